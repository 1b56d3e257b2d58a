"""The report: report.md (tables) and PNG plots beside report.json.

Plots (matplotlib, Agg backend, no display needed), per scenario:
- `load-<scenario>.png`: correct-in-time rate, mean utility and the first (tightest)
  class's deadline attainment against load, one line per policy (the mean of its rounds),
  the capacity-respecting bound dashed;
- `diff-<scenario>.png`: each policy's paired difference against ours per load, with its
  95% interval (above 0: ours wins);
- `ecdf-<scenario>-<load>.png`: latency ECDF per client class, one line per policy (all its
  rounds); a
  request without an HTTP 200 counts as never answered, so each curve's height at the
  class's deadline (dotted) is that class's deadline attainment;
- `cpu-<scenario>-<load>.png`: per-node CPU utilisation over each policy's first round (from /proc), with
  the gateway, this harness and `others` (cores used by processes outside the run).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def _best(values: dict[str, float | None]) -> set[str]:
    present = {k: v for k, v in values.items() if v is not None}
    if not present:
        return set()
    top = max(present.values())
    return {k for k, v in present.items() if v >= top - 1e-12}


def _row_with_best(values: dict[str, float | None], policies: list[str], digits: int = 3) -> list[str]:
    best = _best(values)
    return [f"**{_fmt(values[p], digits)}**" if p in best else _fmt(values[p], digits) for p in policies]


def markdown(report: dict, plots: dict[str, list[str]]) -> str:
    machine = report.get("machine", {})
    lines = ["# faasml evaluation report", "",
             f"- started {report.get('started_at')}, wall time {_fmt(report.get('wall_s'), 0)} s "
             f"(estimated {report.get('estimate_s')} s); git {report.get('git')}",
             f"- command: `{' '.join(report.get('command') or [])}`",
             f"- machine: {machine.get('cpu_model')}, {machine.get('usable_cpus')} usable CPUs, "
             f"{machine.get('memory_gb')} GB, Python {machine.get('python')}; load average at start "
             f"{machine.get('load_average_at_start')}, at end {machine.get('load_average_at_end')}",
             f"- settings: {report['settings']['duration_s']} s per run, "
             f"{report['settings'].get('repeats', 1)} round(s) per cell (every policy once per round, "
             f"interleaved), seed {report['settings']['seed']}, "
             f"client timeout max(deadline, {report['settings']['client_timeout_s']} s), "
             f"{'quick preset' if report['settings'].get('quick') else 'full preset'}",
             "", "Best policy per row in **bold** (rates: the mean of a policy's rounds). Verdicts: "
             "**win** when the 95% interval of (ours − other) lies above 0, **loss** below, else tie. "
             "Definitions: docs/evaluation.md.", ""]
    for scenario in report["scenarios"]:
        lines += _scenario_md(scenario, plots.get(scenario["name"], []))
    if report.get("throughput"):
        lines += _throughput_md(report["throughput"])
    return "\n".join(lines) + "\n"


def _scenario_md(s: dict, plots: list[str]) -> list[str]:
    policies = list(s["loads"][0]["policies"]) if s["loads"] else []
    classes = [c["name"] for c in s["classes"]]
    lines = [f"## Scenario `{s['name']}`", "", s.get("description") or "", ""]
    lines += _table(["class", "share", "tradeoff", "deadline ms", "max_latency_ms sent"],
                    [[c["name"], _fmt(c["share"], 2), _fmt(c["tradeoff"], 2), _fmt(c["deadline_ms"], 0),
                      _fmt(c["max_latency_ms"], 0)] for c in s["classes"]])
    if s.get("mix"):
        lines += ["Shifting mix (keyframes: fraction of the run → shares in the class order above): " +
                  "; ".join(f"{k['at']:g} → " + "/".join(f"{x:.2f}" for x in k["shares"]) for k in s["mix"]), ""]
    capacity = s.get("capacity") or {}
    if capacity.get("given"):
        measured = (f"Capacity (given with `--capacity`, not measured): "
                    f"**{_fmt(capacity.get('throughput_per_s'), 1)} answers/s**: every policy, round and "
                    f"commit run with it is offered the same request rates.")
    else:
        measured = (f"Capacity (measured: closed loop, {capacity.get('concurrency')} clients, "
                    f"{capacity.get('measure_s')} s, default policy): "
                    f"**{_fmt(capacity.get('throughput_per_s'), 1)} answers/s** "
                    f"(statuses {capacity.get('outcomes')}; other processes used "
                    f"{_fmt(capacity.get('others_cpu_cores'), 2)} cores meanwhile). A measured capacity "
                    f"moves with the machine and the selector: compare runs with `--capacity RATE`.")
    lines += [f"Nodes file `{s.get('nodes_file')}`; input pool {s.get('input_pool')} items. " + measured, ""]
    topo = s.get("topology", {})
    profiles = s.get("profiles")
    profiles_line = (f" The selector's latency profiles: {profiles} (the compute p50 below; "
                     "`--shipped-profiles` keeps the shipped ones)." if profiles else "")
    lines += ["Idle figures (pinned, sequential, through gateway and selector):" + profiles_line, ""]
    lines += _table(["variant", "node", "accuracy", "idle latency p10 / p50 ms", "compute p50 ms",
                     "CPU ms per request", "quiet latency ms"],
                    [[name, topo.get("variants", {}).get(name, {}).get("node", "?"),
                      _fmt(topo.get("variants", {}).get(name, {}).get("accuracy")),
                      f"{_fmt(f.get('latency_p10_ms'), 1)} / {_fmt(f.get('latency_p50_ms'), 1)}",
                      _fmt(f.get("service_p50_ms"), 1), _fmt(f.get("cpu_ms_per_request"), 1),
                      _fmt(f.get("quiet_latency_ms"), 1)]
                     for name, f in sorted((s.get("idle") or {}).items())])

    lines += _bound_model_md(s.get("bound_model"))

    def per_load(title: str, getter, digits: int = 3, bound_of=None) -> list[str]:
        header = ["load", "rate/s", "requests"] + policies + (["bound"] if bound_of else [])
        rows = []
        for level in s["loads"]:
            values = {p: getter(level["policies"][p]) for p in policies}
            row = [_pct(level["load"]), _fmt(level["rate_per_s"], 1), str(level["trace"]["requests"])]
            row += _row_with_best(values, policies, digits)
            if bound_of:
                row.append(_fmt(bound_of(level), digits))
            rows.append(row)
        return [f"### {title}", ""] + _table(header, rows)

    lines += per_load("Correct-in-time rate", lambda m: m["correct_in_time_rate"],
                      bound_of=lambda lv: _bound(lv, "correct_in_time"))
    lines += _comparisons_md(s, policies)
    lines += _targets_md(s, policies)
    lines += per_load("Correct-in-time as a fraction of the bound",
                      lambda m: (m.get("vs_bound") or {}).get("correct_in_time"))
    lines += _bound_solves_md(s)
    lines += per_load("Mean utility", lambda m: m["mean_utility"])
    lines += per_load("Effective accuracy (the bound in the same unit: declared accuracy)",
                      lambda m: m["effective_accuracy"], bound_of=lambda lv: _bound(lv, "effective_accuracy"))
    lines += per_load("Goodput (correct in time per second)", lambda m: m["goodput_per_s"], 1)

    lines += ["### Deadline attainment per class", ""]
    rows = []
    for level in s["loads"]:
        for p in policies:
            m = level["policies"][p]
            rows.append([_pct(level["load"]), p] + [_fmt(m["classes"][c]["deadline_attainment"]) for c in classes])
    lines += _table(["load", "policy"] + classes, rows)

    lines += ["### Latency of HTTP 200 answers (ms, from the scheduled arrival) and statuses", ""]
    rows = []
    for level in s["loads"]:
        for p in policies:
            m = level["policies"][p]
            lat = m["latency_ms"]
            rows.append([_pct(level["load"]), p, _fmt(lat["p50"], 1), _fmt(lat["p95"], 1), _fmt(lat["p99"], 1)]
                        + [str(v) for v in m["status"].values()]
                        + [_fmt(m["generator_lateness_ms"]["p99"], 1), _fmt(m.get("others_cpu_cores"), 2),
                           _fmt(m.get("steal_cpu_cores"), 2), _calibration(m.get("prediction"))])
    status_keys = list(s["loads"][0]["policies"][policies[0]]["status"]) if policies else []
    lines += _table(["load", "policy", "p50", "p95", "p99"] + status_keys
                    + ["sender late p99 ms", "others' CPU (cores)", "steal (cores)", "actual / predicted p50 / p90"], rows)

    lines += ["### Load share per variant (of HTTP 200 answers) and per node", "",
              "Node figures: the idle compute time of the answers served there per second per CPU "
              "(`work`: the load put on it relative to its capacity), and all its processes' CPU "
              "from /proc per CPU (`cpu`, selector included where it runs).", ""]
    rows = []
    for level in s["loads"]:
        for p in policies:
            m = level["policies"][p]
            shares = ", ".join(f"{v} {x:.2f}" for v, x in m["variant_share"].items())
            nodes = ", ".join(f"{n} work {_fmt(d['work_utilisation'], 2)} cpu {_fmt(d['cpu_utilisation'], 2)}"
                              for n, d in m["nodes"].items())
            rows.append([_pct(level["load"]), p, shares, nodes])
    lines += _table(["load", "policy", "variant share", "nodes"], rows)
    lines += [f"![{Path(p).stem}]({p})" for p in plots] + [""]
    return lines


def _bound(level: dict, which: str) -> float | None:
    return ((level.get("bound") or {}).get(which) or {}).get("rate")


def _bound_model_md(model: dict | None) -> list[str]:
    if not model:
        return []
    lines = [f"The bound's model (docs/evaluation.md): {model['machine_cpus']} CPUs in all, nodes "
             + ", ".join(f"`{n}` {c:g}" for n, c in model["node_cpus"].items())
             + "; control-plane CPU per offered request (gateway, selector, load generator), charged to "
               "the whole machine for every request, answered or not: the least over each cell's runs, per "
               "load in the table below the correct-in-time rates, with each cell's work per variant (its runs' "
               "least CPU per answer). Over the whole scenario, work and least latency per variant:", ""]
    correctness = model.get("correctness") or {}
    right = correctness.get("right_share") or {}
    lines += _table(["variant", "work ms (least)", "from", "least latency ms", "right on the pool"],
                    [[n, _fmt(v["work_ms"], 2), v["work_from"], _fmt(v["least_latency_ms"], 1), _fmt(right.get(n))]
                     for n, v in model["variants"].items()])
    if correctness:
        lines += [f"Per-input correctness: {correctness['method']}; right answers in the runs where the "
                  f"in-process top-1 was wrong: {correctness['runs_right_where_table_wrong']}.", ""]
    return lines


def _bound_solves_md(s: dict) -> list[str]:
    rows = []
    for level in s["loads"]:
        b = level.get("bound") or {}
        if not b:
            continue
        overhead = b.get("overhead") or {}
        work = overhead.get("work_ms") or {}
        rows.append([_pct(level["load"]), _fmt(overhead.get("ms_per_request"), 2), str(overhead.get("from", "–")),
                     _fmt(overhead.get("others_cores_reserved"), 2),
                     " / ".join(_fmt(work.get(n), 1) for n in sorted(work))]
                    + [f"{_fmt(b[k].get('rate'))} ({b[k].get('method')}, {_fmt(b[k].get('solve_s'), 2)} s)"
                       for k in ("correct_in_time", "effective_accuracy", "in_time")])
    if not rows:
        return []
    return ["### The bound per load", ""] + _table(
        ["load", "overhead CPU ms per offered request", "least in run", "others' cores reserved",
         "work ms per variant (cell's runs)", "correct in time", "effective accuracy", "in time"], rows)


def _ci(c: dict) -> str:
    low, high = c["ci95"]
    mark = {"win": "**win**", "loss": "*loss*"}.get(c["verdict"], "tie")
    return f"{_fmt(c['difference'])} [{_fmt(low)}, {_fmt(high)}] {mark}"


def _compared(s: dict, policies: list[str]) -> tuple[list[dict], str | None]:
    """(the loads that carry comparisons against ours, ours: the policy not compared)."""
    levels = [lv for lv in s["loads"] if lv.get("comparisons")]
    if not levels:
        return [], None
    return levels, next(p for p in policies if p not in levels[0]["comparisons"])


def _comparisons_md(s: dict, policies: list[str]) -> list[str]:
    levels, ours = _compared(s, policies)
    if not levels:
        return []
    first = s["classes"][0]["name"]
    lines = [f"### Ours (`{ours}`) against each policy: paired difference, 95% interval, verdict", "",
             f"ours − other on the same trace, {levels[0].get('rounds', 1)} paired round(s) per cell; "
             f"the interval resamples rounds, then time blocks of requests (docs/evaluation.md).", ""]
    rows, tally = [], {"win": 0, "tie": 0, "loss": 0}
    for level in levels:
        for policy, c in level["comparisons"].items():
            rows.append([_pct(level["load"]), policy, _ci(c["correct_in_time"]), _ci(c["first_class_in_time"]),
                         _ci(c["utility"])])
            tally[c["correct_in_time"]["verdict"]] += 1
    lines += _table(["load", "against", "correct in time", f"{first} in deadline", "utility"], rows)
    lines += [f"On correct-in-time: {tally['win']} win(s), {tally['tie']} tie(s), {tally['loss']} loss(es).", ""]
    return lines


def targets(level: dict, ours: str) -> dict:
    """One cell against the selection targets (docs/evaluation.md, "Against the targets"):
    ours' losses and wins on correct-in-time against every other policy, ours as a
    fraction of the bound, the first (latency-critical) class's deadline attainment and
    the predictions' actual / predicted."""
    comparisons = level.get("comparisons") or {}
    verdicts = {p: c["correct_in_time"]["verdict"] for p, c in comparisons.items()}
    m = level["policies"][ours]
    classes = m.get("classes") or {}
    first = next(iter(classes.values()), {}) if classes else {}
    return {"losses": sorted(p for p, v in verdicts.items() if v == "loss"),
            "wins": sorted(p for p, v in verdicts.items() if v == "win"),
            "against": len(verdicts),
            "of_bound": (m.get("vs_bound") or {}).get("correct_in_time"),
            "first_class_in_deadline": first.get("deadline_attainment"),
            "prediction": m.get("prediction") or (m.get("sim") or {}).get("prediction")}


def _targets_md(s: dict, policies: list[str]) -> list[str]:
    levels, ours = _compared(s, policies)
    if not levels:
        return []
    first = s["classes"][0]["name"]
    rows = []
    for level in levels:
        t = targets(level, ours)
        rows.append([_pct(level["load"]), ", ".join(t["losses"]) or "none",
                     f"{len(t['wins'])} of {t['against']}" + (f" (not: {', '.join(sorted(set(level['comparisons']) - set(t['wins'])))})"
                                                           if 0 < len(t["wins"]) < t["against"] else ""),
                     _fmt(t["of_bound"]), _fmt(t["first_class_in_deadline"]), _calibration(t["prediction"])])
    return ["### Ours against the selection targets", "",
            "Losses and wins on correct-in-time (the verdicts above); ours as a fraction of the bound; the "
            f"`{first}` class in its deadline; the selector's actual / predicted latency (p50 / p90). Targets "
            "(docs/evaluation.md): no loss anywhere, a win against every policy at 100% and above, at least "
            "0.9 of the bound at 25-100% and 0.8 at 150-200%, the first class in deadline 0.99 up to 75% and "
            "0.95 at 100%, actual / predicted p50 within 0.8-1.25 and p90 under 2 up to 100%.", ""] + _table(
        ["load", "losses", "wins", "of bound", f"{first} in deadline", "actual / predicted p50 / p90"], rows)


def _throughput_md(t: dict) -> list[str]:
    lines = ["## Throughput efficiency", "",
             f"Fastest variant `{t['variant']}`, {t['cores']} cores, {t['round_s']} s rounds, "
             f"{t['concurrency']} closed-loop clients on the full path; best round per side.", ""]
    rows = []
    for i, r in enumerate(t["rounds"], 1):
        rows.append([str(i), _fmt(r["in_process"]["per_s"], 1), _fmt(r["full_path"]["per_s"], 1),
                     _fmt(r["full_path"]["per_s"] / r["in_process"]["per_s"] if r["in_process"]["per_s"] else None)])
    lines += _table(["round", "in-process answers/s", "full path answers/s", "ratio"], rows)
    lines += [f"**Efficiency {_fmt(t['efficiency'])}** (goal ≥ {t['goal']}); by CPU per answer "
              f"(independent of other work on the machine): **{_fmt(t.get('cpu_efficiency'))}**.", ""]
    where = t.get("where") or {}
    per = where.get("full_path_cpu_ms_per_answer") or {}
    lines += ["CPU per answer (ms): in-process " + _fmt(where.get("in_process_cpu_ms_per_answer"), 2)
              + "; full path " + ", ".join(f"{k} {_fmt(v, 2)}" for k, v in per.items()), ""]
    return lines


# ---------------------------------------------------------------- plots
def _num(value) -> float:
    return math.nan if value is None else float(value)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_scenario(s: dict, out: Path) -> list[str]:
    from faasml.evaluation.records import read_records

    plt = _pyplot()
    written = []
    if not s["loads"]:
        return written
    policies = list(s["loads"][0]["policies"])
    classes = [c["name"] for c in s["classes"]]
    loads = [lv["load"] * 100 for lv in s["loads"]]

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    panels = [("correct-in-time rate", lambda m: m["correct_in_time_rate"],
               lambda lv: _bound(lv, "correct_in_time")),
              ("mean utility", lambda m: m["mean_utility"], None),
              (f"{classes[0]}: deadline attainment", lambda m: m["classes"][classes[0]]["deadline_attainment"], None)]
    for ax, (title, getter, bound_of) in zip(axes, panels):
        for p in policies:
            ax.plot(loads, [_num(getter(lv["policies"][p])) for lv in s["loads"]], marker="o", label=p)
        if bound_of:
            ax.plot(loads, [_num(bound_of(lv)) for lv in s["loads"]], "k--", label="bound")
        ax.set_title(title)
        ax.set_xlabel("load, % of measured capacity")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    written.append(_finish(fig, f"{s['name']}: capacity {_num(s['capacity']['throughput_per_s']):.1f} answers/s",
                           out, f"load-{s['name']}.png", 90))
    if any(lv.get("comparisons") for lv in s["loads"]):
        written.append(_plot_differences(s, loads, out))

    deadlines = {c["name"]: c["deadline_ms"] for c in s["classes"]}
    for lv in s["loads"]:
        tag = f"{round(lv['load'] * 100):03d}"
        # a run without per-request records (a large simulated one) has no latency ECDF
        names = {p: [n for n in (lv["policies"][p].get("records_files") or [lv["policies"][p].get("records_file")])
                     if n and (out / n).is_file()] for p in policies}
        if any(names.values()):
            fig, axes = plt.subplots(1, len(classes), figsize=(5 * len(classes), 3.8), squeeze=False)
            for p in policies:
                records = []
                for name in names[p]:
                    records += read_records(out / name)
                for ax, c in zip(axes[0], classes):
                    mine = [r for r in records if r.cls == c]
                    if not mine:
                        continue
                    answered = sorted(r.latency_ms for r in mine if r.status == 200)
                    ys = [(i + 1) / len(mine) for i in range(len(answered))]
                    ax.step(answered, ys, where="post", label=p)
            from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

            for ax, c in zip(axes[0], classes):
                ax.axvline(deadlines[c], color="k", linestyle=":", linewidth=1)
                ax.set_xscale("log")
                ax.xaxis.set_major_locator(FixedLocator([5, 10, 20, 30, 50, 100, 200, 500, 1000, 2000, 5000, 10000]))
                ax.xaxis.set_major_formatter(ScalarFormatter())
                ax.xaxis.set_minor_formatter(NullFormatter())
                ax.set_ylim(0, 1.02)
                ax.set_title(f"{c} (deadline {deadlines[c]:g} ms)")
                ax.set_xlabel("latency ms (log)")
                ax.grid(alpha=0.3)
            axes[0][0].set_ylabel("share of requests answered (200) within x")
            axes[0][0].legend(fontsize=8)
            written.append(_finish(fig, f"{s['name']} at {lv['load']:.0%} load ({lv['rate_per_s']:.1f}/s)",
                                   out, f"ecdf-{s['name']}-{tag}.png", 90))

        fig, axes = plt.subplots(1, len(policies), figsize=(4.5 * len(policies), 3.6), squeeze=False, sharey=True)
        cpus = (s.get("topology") or {}).get("node_cpus", {})
        for ax, p in zip(axes[0], policies):
            first_round = (lv.get("runs") or [lv["policies"]])[0][p]
            samples = first_round.get("cpu", {}).get("samples", [])
            groups = sorted({g for _, sample in samples for g in sample})
            for g in groups:
                per = cpus.get(g, 1)
                ax.plot([t for t, _ in samples], [sample.get(g, 0.0) / per for _, sample in samples],
                        label=f"{g} ({per} cpu)" if g in cpus else f"{g} (cores)")
            ax.set_title(p)
            ax.set_xlabel("s into the run")
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel("CPU utilisation (node: per CPU; others: cores)")
        axes[0][0].legend(fontsize=7)
        written.append(_finish(fig, f"{s['name']} at {lv['load']:.0%} load: CPU over time",
                               out, f"cpu-{s['name']}-{tag}.png", 80))
    return written


def _plot_differences(s: dict, loads: list[float], out: Path) -> str:
    plt = _pyplot()
    first = s["classes"][0]["name"]
    metrics = [("correct_in_time", "correct in time"), ("first_class_in_time", f"{first} in deadline"),
               ("utility", "utility")]
    others = list(next(lv["comparisons"] for lv in s["loads"] if lv.get("comparisons")))
    fig, axes = plt.subplots(1, len(metrics), figsize=(15, 4.2))
    for ax, (key, title) in zip(axes, metrics):
        for i, policy in enumerate(others):
            xs, ys, lows, highs = [], [], [], []
            for x, lv in zip(loads, s["loads"]):
                c = (lv.get("comparisons") or {}).get(policy, {}).get(key)
                if not c or c["difference"] is None or None in c["ci95"]:
                    continue
                xs.append(x + (i - (len(others) - 1) / 2) * 2.5)   # side by side, not on top
                ys.append(c["difference"])
                lows.append(c["difference"] - c["ci95"][0])
                highs.append(c["ci95"][1] - c["difference"])
            ax.errorbar(xs, ys, yerr=[lows, highs], fmt="o", capsize=3, label=f"ours − {policy}")
        ax.axhline(0, color="k", linewidth=1)
        ax.set_title(f"{title}: ours − other, 95% interval")
        ax.set_xlabel("load, % of capacity")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return _finish(fig, f"{s['name']}: paired differences against ours (above 0: ours wins)", out,
                   f"diff-{s['name']}.png", 90)


def _finish(fig, title: str, out: Path, name: str, dpi: int) -> str:
    """Title, lay out, save as `out/name` and close one figure; its file name."""
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out / name, dpi=dpi)
    _pyplot().close(fig)
    return name


def write_report(report: dict, out: Path) -> dict[str, list[str]]:
    """report.md and the plots; returns the plot files per scenario."""
    plots = {s["name"]: plot_scenario(s, out) for s in report["scenarios"]}
    (out / "report.md").write_text(markdown(report, plots), encoding="utf-8")
    return plots


def _calibration(prediction: dict | None) -> str:
    """The selector's predictions against what the clients saw: "p50 / p90" of actual /
    predicted ("–" where no answer carried a prediction: a baseline run or old records)."""
    if not prediction or prediction.get("actual_over_predicted_p50") is None:
        return "–"
    return f"{_fmt(prediction['actual_over_predicted_p50'], 2)} / {_fmt(prediction['actual_over_predicted_p90'], 2)}"

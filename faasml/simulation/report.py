"""The simulation's report: the evaluation's tables and plots (faasml/evaluation/report.py,
the same format as a live run's), then what a simulation adds per scenario: the topology
and measured inputs, the simulator's own speed, herding (calls per variant over time,
queues, the selector replicas' choices) and, where one scenario ran with several
selector-replica counts, their comparison on the same trace.

Plots added: `shares-<scenario>-<load>.png` (share of calls per variant over time, one
panel per policy) and `herding-<scenario>.png` (swing and worst queue against load, one
line per selector-replica count, for each policy).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from faasml.evaluation import report as evaluation_report
from faasml.evaluation.report import _fmt, _pct, _table


def markdown(report: dict, plots: dict[str, list[str]]) -> str:
    text = evaluation_report.markdown(report, {})
    text = text.replace("# faasml evaluation report", "# faasml simulation report", 1)
    lines = [text.rstrip(), ""]
    inputs = report.get("inputs") or {}
    profiles = inputs.get("profiles") or {}
    correctness = inputs.get("correctness") or {}
    lines += ["## Measured inputs", "",
              f"- service times: {profiles.get('method', '?')} ({profiles.get('measured_on', '?')}, "
              f"{profiles.get('measured_at', '?')})" +
              (f"; constant (no samples) for {', '.join(profiles['constant'])}" if profiles.get("constant") else ""),
              f"- control plane CPU per request: {inputs.get('control')} ({(inputs.get('overheads') or {}).get('method', 'none measured')})",
              f"- per-photo correctness: {correctness.get('method', 'none (text: an answer is correct)')} "
              f"({correctness.get('measured_on', '')} {correctness.get('measured_at', '')})",
              f"- the selector's settings (SelectorConfig with this shell's FAASML_* variables): "
              f"{report.get('selector_settings')}", ""]
    for scenario in report["scenarios"]:
        lines += _simulation_md(scenario, plots.get(scenario["name"], []))
    lines += _selectors_md(report)
    return "\n".join(lines) + "\n"


def _simulation_md(s: dict, plots: list[str]) -> list[str]:
    sim = s.get("simulation") or {}
    topo = sim.get("topology") or {}
    lines = [f"## Simulation of `{s['name']}`", "", f"{sim.get('description', '')}: {topo.get('nodes')} nodes, "
             f"{_fmt(topo.get('cpus'), 0)} CPUs, {topo.get('functions')} functions, {topo.get('replicas')} replicas, "
             f"{topo.get('selectors')} selector replica(s), gateways balance by {topo.get('balancer')}; "
             f"arrivals {s.get('arrivals', {}).get('process', 'poisson')}" +
             (f"; faults {sim.get('faults')}" if sim.get("faults") else ""), ""]
    policies = list(s["loads"][0]["policies"]) if s["loads"] else []
    rows = []
    for level in s["loads"]:
        for p in policies:
            m = level["policies"][p]
            info = m.get("sim") or {}
            herd = info.get("herding") or {}
            rows.append([_pct(level["load"]), p, str(level["trace"]["requests"]), _fmt(m.get("wall_s"), 2),
                         _fmt(info.get("requests_per_wall_s"), 0), _fmt(info.get("requests_per_cpu_s"), 0),
                         str(info.get("events")),
                         _fmt(herd.get("swing")), _fmt(herd.get("peak_share_p95")),
                         _fmt((info.get("queues") or {}).get("worst_p95"), 1),
                         _fmt(info.get("replica_disagreement")),
                         _fmt((info.get("prediction") or {}).get("actual_over_predicted_p50"), 2) + " / " +
                         _fmt((info.get("prediction") or {}).get("actual_over_predicted_p90"), 2),
                         _seed_range(m.get("seeds"))])
    lines += _table(["load", "policy", "requests", "wall s", "simulated req per wall s", "per CPU s", "events",
                     "swing", "peak share p95", "worst queue p95", "replica disagreement",
                     "actual / predicted p50 / p90", "correct in time per seed"], rows)
    lines += ["`swing`: how far the calls' shares per variant in 0.25 s bins stray from the run's "
              "(total variation, 0..1); `worst queue p95`: the largest of every variant's 95th percentile "
              "of calls in flight per replica at its gateway; `replica disagreement`: how far each selector replica's "
              "shares are from all replicas' (docs/simulation.md).", ""]
    lines += [f"![{Path(p).stem}]({p})" for p in plots] + [""]
    return lines


def _seed_range(seeds: list[dict] | None) -> str:
    values = [x["correct_in_time_rate"] for x in seeds or [] if x.get("correct_in_time_rate") is not None]
    if len(values) < 2:
        return "–"
    return f"{len(values)} seeds: {min(values):.3f}–{max(values):.3f}"


def _selectors_md(report: dict) -> list[str]:
    """One scenario run with several selector-replica counts: their figures side by side."""
    groups: dict[str, list[dict]] = {}
    for s in report["scenarios"]:
        groups.setdefault(s.get("scenario", s["name"]), []).append(s)
    lines = []
    for name, runs in groups.items():
        if len(runs) < 2:
            continue
        lines += [f"## Selector replicas on `{name}`: the same traces", ""]
        rows = []
        for s in runs:
            count = (s.get("simulation") or {}).get("topology", {}).get("selectors")
            for level in s["loads"]:
                for p, m in level["policies"].items():
                    info = m.get("sim") or {}
                    rows.append([str(count), _pct(level["load"]), p, _fmt(m["correct_in_time_rate"]),
                                 _fmt(m["classes"][next(iter(m["classes"]))]["deadline_attainment"]),
                                 _fmt((info.get("herding") or {}).get("swing")),
                                 _fmt((info.get("herding") or {}).get("peak_share_p95")),
                                 _fmt((info.get("queues") or {}).get("worst_p95"), 1),
                                 _fmt(info.get("replica_disagreement")), _fmt(m["latency_ms"]["p95"], 1)])
        rows.sort(key=lambda r: (r[1], r[2], int(r[0] or 0)))
        lines += _table(["selectors", "load", "policy", "correct in time", "tightest class in deadline", "swing",
                         "peak share p95", "worst queue p95", "replica disagreement", "latency p95 ms"], rows)
    return lines


# ---------------------------------------------------------------- plots
def plot_simulation(s: dict, out: Path) -> list[str]:
    plt = evaluation_report._pyplot()
    written = []
    for level in s["loads"]:
        policies = list(level["policies"])
        fig, axes = plt.subplots(1, len(policies), figsize=(4.5 * len(policies), 3.4), squeeze=False, sharey=True)
        for ax, p in zip(axes[0], policies):
            starts, series = (level["policies"][p].get("sim") or {}).get("share_series", ([], {}))
            bin_s = ((level["policies"][p].get("sim") or {}).get("herding") or {}).get("bin_s", 0.25)
            xs = [b * bin_s for b in starts]
            names = sorted(series, key=lambda k: -sum(series[k]))[:8]
            if xs and names:
                ax.stackplot(xs, [series[k] for k in names], labels=names, step="post")
            ax.set_title(p)
            ax.set_xlabel("s into the run")
            ax.set_ylim(0, 1)
        axes[0][0].set_ylabel("share of calls (1 s windows)")
        axes[0][0].legend(fontsize=6, loc="lower left")
        tag = f"{round(level['load'] * 100):03d}"
        written.append(evaluation_report._finish(fig, f"{s['name']} at {level['load']:.0%}: calls per variant "
                                                      f"over time", out, f"shares-{s['name']}-{tag}.png", 80))
    return written


def plot_selectors(report: dict, out: Path) -> dict[str, list[str]]:
    plt = evaluation_report._pyplot()
    groups: dict[str, list[dict]] = {}
    for s in report["scenarios"]:
        groups.setdefault(s.get("scenario", s["name"]), []).append(s)
    written: dict[str, list[str]] = {}
    for name, runs in groups.items():
        if len(runs) < 2:
            continue
        fig, axes = plt.subplots(1, 3, figsize=(15, 4))
        policies = list(runs[0]["loads"][0]["policies"]) if runs[0]["loads"] else []
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        styles = ["-", "--", ":", "-."]
        for r, s in enumerate(runs):   # one colour per policy, one line style per replica count
            count = (s.get("simulation") or {}).get("topology", {}).get("selectors")
            loads = [lv["load"] * 100 for lv in s["loads"]]
            for i, p in enumerate(policies):
                def series(get):
                    return [evaluation_report._num(get(lv["policies"][p])) for lv in s["loads"]]
                style = dict(color=colours[i % len(colours)], linestyle=styles[r % len(styles)], marker="o",
                             label=f"{p}, {count} selector(s)")
                axes[0].plot(loads, series(lambda m: m["correct_in_time_rate"]), **style)
                axes[1].plot(loads, series(lambda m: (m["sim"]["herding"] or {}).get("swing")), **style)
                axes[2].plot(loads, series(lambda m: m["sim"]["queues"]["worst_p95"]), **style)
        for ax, title in zip(axes, ("correct-in-time rate", "swing of calls per variant (0.25 s bins)",
                                    "worst queue p95 (calls in flight per replica)")):
            ax.set_title(title)
            ax.set_xlabel("load, % of capacity")
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=7)
        written[name] = [evaluation_report._finish(fig, f"{name}: selector replicas on the same traces", out,
                                                   f"herding-{name}.png", 80)]
    return written


def write_report(report: dict, out: Path, plots: bool = True) -> dict[str, list[str]]:
    import warnings

    written: dict[str, list[str]] = {s["name"]: [] for s in report["scenarios"]}
    if plots:
        # a generated cluster's many nodes crowd the CPU plots' legends: matplotlib says so
        warnings.filterwarnings("ignore", message="Tight layout not applied", category=UserWarning)
        for s in report["scenarios"]:
            written[s["name"]] = evaluation_report.plot_scenario(s, out) + plot_simulation(s, out)
        for name, files in plot_selectors(report, out).items():
            first = next(s["name"] for s in report["scenarios"] if s.get("scenario", s["name"]) == name)
            written[first] = written[first] + files
    (out / "report.md").write_text(markdown(report, written), encoding="utf-8")
    return written


def replot(folder: Path) -> None:
    import json

    report: dict[str, Any] = json.loads((folder / "report.json").read_text())
    write_report(report, folder)

"""`faasml bench simulate --validate`: the simulator against live runs on the same traces.

1. **Live**: `faasml bench evaluate` for the mix and edge-cloud scenarios at 25, 50, 75
   and 100% of measured capacity (its own platform, `faasml up`, fresh selector per run),
   with a longer idle phase so each variant's compute-time distribution has samples.
2. **Calibration from that run**: the service-time distributions are its idle phase's
   compute samples (the profiles file the live selector was given, which the simulated
   selectors are given too); the control plane's CPU per request comes from its runs at
   low load (calibration.py); the per-photo correctness table must describe the model
   files the live run served (checked by their SHA-256).
3. **Simulated**: the same scenarios, loads, policies, seed, duration, request cap and
   input pool, at the live run's measured capacity, so every cell replays the live
   cell's trace (the report checks the fingerprints).
4. **Compared**, cell by cell: per policy, correct-in-time within +-0.04; per class, the
   p50 latency of answers within 25%; and the order of every pair of policies whose
   live difference is beyond its own noise (a paired bootstrap over the trace's
   requests: the 95% interval of the difference excludes 0) is the same in the
   simulation. `validation.md` and `validation.json` list every cell, and every miss.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

from faasml.evaluation.defaults import DEFAULT_DATA, DEFAULT_POLICIES, REPO

CIT_TOLERANCE = 0.04
P50_TOLERANCE = 0.25
BOOTSTRAP = 2000
VALIDATE_SCENARIOS = ("mix", "edge-cloud")
VALIDATE_LOADS = (0.25, 0.5, 0.75, 1.0)


@dataclass
class ValidateSettings:
    scenarios: list[str] = field(default_factory=lambda: list(VALIDATE_SCENARIOS))
    policies: list[str] = field(default_factory=lambda: list(DEFAULT_POLICIES))
    loads: list[float] = field(default_factory=lambda: list(VALIDATE_LOADS))
    duration_s: float = 12.0
    capacity_per_s: float | None = None
    idle_requests: int = 40
    images: int = 300
    seed: int = 7
    data: Path = DEFAULT_DATA
    out: Path | None = None
    live: Path | None = None          # an earlier live report folder: compare with it, run nothing live
    replay_others: bool = False       # also simulate with the live cells' other work taken from the machine
    correctness: Path | None = None
    models: Path = REPO / "models"


def estimate_s(settings: ValidateSettings) -> float:
    from faasml.evaluation.runner import Settings, estimate_s as live_estimate
    from faasml.evaluation.scenario import resolve_scenarios

    if settings.live is not None:
        return 30.0 + 5.0 * len(settings.scenarios) * len(settings.loads) * len(settings.policies)
    live = Settings(scenarios=settings.scenarios, policies=settings.policies, loads=settings.loads,
                    duration_s=settings.duration_s, idle_requests=settings.idle_requests, throughput=False,
                    capacity_per_s=settings.capacity_per_s)
    simulated = 5.0 * len(settings.scenarios) * len(settings.loads) * len(settings.policies)
    return live_estimate(live, resolve_scenarios(settings.scenarios)) + simulated + 30.0


def run_validation(settings: ValidateSettings, say=print) -> dict:
    from faasml.evaluation.runner import Settings, run_evaluation
    from faasml.simulation.calibration import overheads_from_report
    from faasml.simulation.runner import SimSettings, run_simulation

    out = Path(settings.out or REPO / "reports" / time.strftime("validation-%Y%m%d-%H%M%S")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    say(f"faasml bench simulate --validate: {', '.join(settings.scenarios)} at "
        f"{', '.join(f'{x:.0%}' for x in settings.loads)}, policies {', '.join(settings.policies)}; "
        f"estimated {estimate_s(settings) / 60:.1f} min; report in {out}")
    started = time.time()
    if settings.live is None:
        live_out = out / "live"
        live_settings = Settings(scenarios=list(settings.scenarios), policies=list(settings.policies),
                                 loads=list(settings.loads), duration_s=settings.duration_s,
                                 idle_requests=settings.idle_requests, images=settings.images, data=settings.data,
                                 seed=settings.seed, out=live_out, throughput=False, profile_here=True,
                                 capacity_per_s=settings.capacity_per_s)
        live = run_evaluation(live_settings, argv=["faasml", "bench", "evaluate", "(from --validate)"])
    else:
        live_out = Path(settings.live).resolve()
        live = json.loads((live_out / "report.json").read_text())
    calibration = out / "calibration"
    calibration.mkdir(exist_ok=True)
    overheads = overheads_from_report(live, live_out)
    (calibration / "overheads.json").write_text(json.dumps(overheads, indent=1) + "\n")
    say(f"control plane per request: gateway {overheads['gateway_ms']:.2f} ms per pass, selector "
        f"{overheads['selector_ms']:.2f} ms, load generator {overheads['client_ms']:.2f} ms, executors' HTTP "
        f"{overheads['executor_http_ms']:.2f} ms ({overheads['runs']} runs)")
    correctness = _checked_correctness(settings, out, say)
    simulated: dict[str, dict] = {}
    alone: dict[str, dict] = {}
    for scenario in live["scenarios"]:
        name = scenario["name"]
        profiles = live_out / "state" / name / "profiles.json"
        if not profiles.is_file():
            raise FileNotFoundError(f"{profiles}: the live run's profiles (its idle phase) are missing")
        sim_settings = SimSettings(
            scenarios=[name], policies=list(settings.policies), loads=[lv["load"] for lv in scenario["loads"]],
            duration_s=live["settings"]["duration_s"], max_requests=live["settings"]["max_requests"],
            capacity_per_s=scenario["capacity"]["throughput_per_s"], images=live["settings"]["images"],
            seed=live["settings"]["seed"], profiles=profiles, overheads=calibration / "overheads.json",
            correctness=correctness, out=out / "simulated" / name, plots=True)
        simulated[name] = run_simulation(sim_settings, argv=["faasml", "bench", "simulate", "(from --validate)"])
        if settings.replay_others:
            # beside it: other processes' CPU during each live cell taken from the machine
            alone[name] = run_simulation(replace(sim_settings, out=out / "simulated-others" / name,
                                                 background=others_of(scenario), plots=False),
                                         argv=["faasml", "bench", "simulate", "(from --validate, others replayed)"])
    result = compare(live, live_out, simulated, out, alone)
    result["overheads"] = overheads
    result["wall_s"] = round(time.time() - started, 1)
    result["estimate_s"] = round(estimate_s(settings))
    result["live_folder"] = str(live_out)
    (out / "validation.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "validation.md").write_text(validation_markdown(result), encoding="utf-8")
    say(f"validation: {result['summary']['met']} of {result['summary']['checks']} checks met; "
        f"{out / 'validation.md'} ({result['wall_s']:.0f} s)")
    return result


def _checked_correctness(settings: ValidateSettings, out: Path, say) -> Path:
    """The per-photo table, re-measured when it describes other model files than these."""
    from faasml.simulation.correctness import file_digest, image_cards, measure
    from faasml.simulation.runner import DEFAULT_CORRECTNESS

    path = Path(settings.correctness or DEFAULT_CORRECTNESS)
    table = json.loads(path.read_text()) if path.is_file() else {}
    stale = []
    for card in image_cards(settings.models):
        name = card.name[: -len(".card.json")]
        model_file = card.parent / json.loads(card.read_text())["file"]
        row = (table.get("models") or {}).get(name)
        if row is None or row.get("model_sha256") != file_digest(model_file):
            stale.append(name)
    if not stale:
        return path
    fresh = out / "calibration" / "correctness.json"
    if path.is_file() and fresh != path:
        fresh.write_text(path.read_text())
    say(f"the correctness table does not describe these model files ({', '.join(stale)}): measuring them "
        f"(faasml bench correctness, about 1 min per model)")
    measure(settings.models, settings.data, fresh, stale, progress=say)
    return fresh


def others_of(scenario: dict) -> dict[str, list[tuple[float, float]]]:
    """Per live cell, the CPU other processes (and the hypervisor's other guests) took from
    the machine, sample by sample: replayed in the simulated cell, since the simulator's
    machine has no one else on it (on a quiet machine it is about 0)."""
    found = {}
    for level in scenario["loads"]:
        first_round = (level.get("runs") or [level["policies"]])[0]   # the round whose records are compared
        for policy, summary in first_round.items():
            samples = (summary.get("cpu") or {}).get("samples") or []
            # each sample covers the half second before it: it applies from the previous one
            times = [0.0] + [t for t, _ in samples[:-1]]
            found[f"{level['load']:g}/{policy}"] = [
                (start, float(sample.get("others") or 0.0) + float(sample.get("steal") or 0.0))
                for start, (_, sample) in zip(times, samples)]
    return found


# ---------------------------------------------------------------- comparing
def paired_difference(a: Sequence[bool], b: Sequence[bool], times_s: Sequence[float], seed: int) -> dict:
    """Mean of a - b over the same requests, with a 95% interval from the evaluation's
    paired bootstrap over time blocks of them (faasml/evaluation/stats.py)."""
    from faasml.evaluation.stats import paired_bootstrap

    if not a or len(a) != len(b):
        return {"difference": None, "low": None, "high": None}
    c = paired_bootstrap([[float(x) for x in a]], [[float(x) for x in b]], [list(times_s)], 1.0, BOOTSTRAP, seed)
    return {"difference": round(c.difference, 4), "low": round(c.low, 4), "high": round(c.high, 4)}


def compare(live: dict, live_out: Path, simulated: dict[str, dict], out: Path,
            alone: dict[str, dict] | None = None) -> dict:
    from faasml.evaluation.records import read_records

    cells, orders, classes_rows = [], [], []
    for scenario in live["scenarios"]:
        name = scenario["name"]
        sim_report = simulated[name]
        sim_scenario = sim_report["scenarios"][0]
        alone_loads = (alone or {}).get(name, {}).get("scenarios", [{}])[0].get("loads") or []
        for index, (level, sim_level) in enumerate(zip(scenario["loads"], sim_scenario["loads"])):
            alone_level = alone_loads[index] if index < len(alone_loads) else {"policies": {}}
            same_trace = level["trace"]["fingerprint"] == sim_level["trace"]["fingerprint"]
            live_correct = {}
            for policy, m in level["policies"].items():
                s = sim_level["policies"].get(policy)
                if s is None:
                    continue
                diff = s["correct_in_time_rate"] - m["correct_in_time_rate"]
                cells.append({"scenario": name, "load": level["load"], "policy": policy,
                              "requests": level["trace"]["requests"], "same_trace": same_trace,
                              "live": m["correct_in_time_rate"], "simulated": s["correct_in_time_rate"],
                              "simulated_others": (alone_level["policies"].get(policy) or {}).get(
                                  "correct_in_time_rate"),
                              "difference": round(diff, 4), "met": abs(diff) <= CIT_TOLERANCE,
                              "live_statuses": {k: v for k, v in m["status"].items() if v},
                              "simulated_statuses": {k: v for k, v in s["status"].items() if v},
                              "live_others_cpu": m.get("others_cpu_cores")})
                for cls, live_cls in m["classes"].items():
                    sim_cls = s["classes"].get(cls, {})
                    lp, sp = live_cls["latency_ms"]["p50"], (sim_cls.get("latency_ms") or {}).get("p50")
                    ratio = sp / lp if lp and sp else None
                    classes_rows.append({"scenario": name, "load": level["load"], "policy": policy, "class": cls,
                                         "live_p50_ms": lp, "simulated_p50_ms": sp,
                                         "ratio": round(ratio, 3) if ratio else None,
                                         "met": ratio is not None and abs(ratio - 1.0) <= P50_TOLERANCE})
                records = sorted(read_records(live_out / _first_records(m)), key=lambda r: r.seq)
                live_correct[policy] = [r.correct_in_time for r in records]
                live_times = [r.t_s for r in records]
            policies = sorted(live_correct)
            for i, a in enumerate(policies):
                for b in policies[i + 1:]:
                    stats = paired_difference(live_correct[a], live_correct[b], live_times, i)
                    if stats["difference"] is None:
                        continue
                    beyond = stats["low"] > 0 or stats["high"] < 0
                    sim_a = sim_level["policies"][a]["correct_in_time_rate"]
                    sim_b = sim_level["policies"][b]["correct_in_time_rate"]
                    same = (sim_a - sim_b) * stats["difference"] > 0
                    orders.append({"scenario": name, "load": level["load"], "pair": [a, b],
                                   "live_difference": stats["difference"], "live_ci95": [stats["low"], stats["high"]],
                                   "beyond_noise": beyond, "simulated_difference": round(sim_a - sim_b, 4),
                                   "same_order": same, "met": (not beyond) or same})
    checks = cells + classes_rows + [o for o in orders if o["beyond_noise"]]
    met = sum(1 for c in checks if c["met"])
    return {"tolerances": {"correct_in_time": CIT_TOLERANCE, "p50_ratio": P50_TOLERANCE,
                           "order": "the 95% interval of the live difference (the evaluation's paired bootstrap over "
                                    "time blocks of the trace's requests) excludes 0"},
            "cells": cells, "classes": classes_rows, "orders": orders,
            "summary": {"checks": len(checks), "met": met,
                        "correct_in_time_met": f"{sum(c['met'] for c in cells)}/{len(cells)}",
                        "p50_met": f"{sum(c['met'] for c in classes_rows)}/{len(classes_rows)}",
                        "orders_beyond_noise": sum(o["beyond_noise"] for o in orders),
                        "orders_met": f"{sum(o['met'] for o in orders if o['beyond_noise'])}/"
                                      f"{sum(o['beyond_noise'] for o in orders)}",
                        "same_traces": all(c["same_trace"] for c in cells)},
            "machine": live.get("machine"), "git": live.get("git"),
            "simulated_reports": {k: str(Path(v["settings"]["out"]) / "report.md") for k, v in simulated.items()}}


def _first_records(summary: dict) -> str:
    """A live cell's records file (its first round's, when it ran several)."""
    return (summary.get("records_files") or [summary.get("records_file")])[0]


def validation_markdown(result: dict) -> str:
    from faasml.evaluation.report import _fmt, _pct, _table

    summary = result["summary"]
    machine = result.get("machine") or {}
    lines = ["# Simulator against live runs", "",
             f"- live runs: {result.get('live_folder')} (git {result.get('git')}, {machine.get('cpu_model')}, load "
             f"average {machine.get('load_average_at_start')} at start, {machine.get('load_average_at_end')} at end)",
             f"- same traces in both: {summary['same_traces']}; wall time {_fmt(result.get('wall_s'), 0)} s "
             f"(estimated {result.get('estimate_s')} s)",
             f"- control plane per request (from the live runs): gateway {_fmt(result['overheads']['gateway_ms'], 2)} ms "
             f"per pass, selector {_fmt(result['overheads']['selector_ms'], 2)} ms, load generator "
             f"{_fmt(result['overheads']['client_ms'], 2)} ms, executors' HTTP "
             f"{_fmt(result['overheads']['executor_http_ms'], 2)} ms",
             f"- **{summary['met']} of {summary['checks']} checks met**: correct-in-time within "
             f"±{result['tolerances']['correct_in_time']} in {summary['correct_in_time_met']} cells; class p50 "
             f"latency within {result['tolerances']['p50_ratio']:.0%} in {summary['p50_met']}; policy order "
             f"kept in {summary['orders_met']} pairs whose live difference is beyond its noise", "",
             "## Correct-in-time per cell", ""]
    rows = [[c["scenario"], _pct(c["load"]), c["policy"], str(c["requests"]), _fmt(c["live"]), _fmt(c["simulated"]),
             f"{c['difference']:+.3f}", "met" if c["met"] else "**missed**",
             " ".join(f"{k}:{v}" for k, v in c["live_statuses"].items()),
             " ".join(f"{k}:{v}" for k, v in c["simulated_statuses"].items()), _fmt(c.get("live_others_cpu"), 2),
             _fmt(c.get("simulated_others"))]
            for c in result["cells"]]
    lines += ["`others' CPU live`: cores other processes on the machine used during the live cell (the "
              "simulated machine has no one else on it); `sim, others replayed` (with --replay-others): the "
              "simulator with that CPU taken from the machine, sample by sample, as if it were not elastic.", ""]
    lines += _table(["scenario", "load", "policy", "requests", "live", "simulated", "sim - live", "±0.04",
                     "live statuses", "simulated statuses", "others' CPU live", "sim, others replayed"], rows)
    lines += ["## p50 latency of answers per class (ms)", ""]
    rows = [[c["scenario"], _pct(c["load"]), c["policy"], c["class"], _fmt(c["live_p50_ms"], 1),
             _fmt(c["simulated_p50_ms"], 1), _fmt(c["ratio"], 2), "met" if c["met"] else "**missed**"]
            for c in result["classes"]]
    lines += _table(["scenario", "load", "policy", "class", "live", "simulated", "sim / live", "within 25%"], rows)
    lines += ["## Order of policies (live difference, paired bootstrap 95% interval)", ""]
    rows = [[o["scenario"], _pct(o["load"]), f"{o['pair'][0]} - {o['pair'][1]}", f"{o['live_difference']:+.3f}",
             f"[{o['live_ci95'][0]:+.3f}, {o['live_ci95'][1]:+.3f}]", "yes" if o["beyond_noise"] else "no",
             f"{o['simulated_difference']:+.3f}",
             ("met" if o["same_order"] else "**missed**") if o["beyond_noise"] else "–"]
            for o in result["orders"]]
    lines += _table(["scenario", "load", "pair", "live difference", "95% interval", "beyond noise",
                     "simulated difference", "same order"], rows)
    lines += ["Simulated reports: " + ", ".join(f"[{k}]({v})" for k, v in result["simulated_reports"].items()), ""]
    return "\n".join(lines) + "\n"

"""The control plane's CPU per request, measured from a live evaluation.

`faasml bench evaluate` reads every process's CPU from /proc while each run goes
(faasml/evaluation/cpu.py): the gateway (`faasml up` itself), the selector's replica,
the load generator (`harness`) and every executor replica. Divided by the requests of
the run, they are what one request costs each of them on this machine, the figures the
simulator charges where those processes run (topology.Control):

* `gateway_ms`: the gateway's CPU per pass: every request passes once (client ->
  selector and back), and once more for each call the selector sends through it (to a
  node with a round trip; the others it calls directly);
* `selector_ms`: the selector's CPU per request (parse, decide, forward, answer);
* `client_ms`: the load generator's CPU per request (it shares the machine live);
* `executor_http_ms`: the executors' CPU per answered request beyond their reported
  compute time (the HTTP server, JSON).

Only runs at or below `max_load` count (mostly answered requests: a refusal costs less
than an answer), and the median over them is taken.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

MAX_LOAD = 0.5


def overheads_from_report(report: dict, folder: Path, max_load: float = MAX_LOAD) -> dict[str, Any]:
    """Per-request CPU of each control-plane process, from a live report's runs."""
    from faasml.evaluation.records import read_records

    samples: dict[str, list[float]] = {"gateway_ms": [], "selector_ms": [], "client_ms": [], "executor_http_ms": []}
    cells = 0
    for scenario in report.get("scenarios", []):
        topology = scenario.get("topology") or {}
        variants = topology.get("variants") or {}
        for level in scenario.get("loads", []):
            if level["load"] > max_load + 1e-9:
                continue
            # each round's run (a cell replayed in rounds keeps them in `runs`)
            for summary in (s for run in (level.get("runs") or [level["policies"]]) for s in run.values()):
                totals = (summary.get("cpu") or {}).get("totals_s") or {}
                records_file = folder / summary.get("records_file", "")
                if not totals or not records_file.is_file():
                    continue
                records = read_records(records_file)
                n = len(records)
                if not n:
                    continue
                answered = [r for r in records if r.status == 200]
                routed = sum(1 for r in answered if (variants.get(r.variant or "") or {}).get("rtt_ms", 0) > 0)
                if "gateway" in totals:
                    samples["gateway_ms"].append(1000.0 * totals["gateway"] / (n + routed))
                if "selector" in totals:
                    samples["selector_ms"].append(1000.0 * totals["selector"] / n)
                if "harness" in totals:
                    samples["client_ms"].append(1000.0 * totals["harness"] / n)
                executors = sum(v for k, v in totals.items() if k in variants)
                compute = sum(r.compute_ms or 0.0 for r in answered) / 1000.0
                if answered and executors > 0:
                    samples["executor_http_ms"].append(max(0.0, 1000.0 * (executors - compute) / len(answered)))
                cells += 1
    figures = {k: round(statistics.median(v), 4) if v else 0.0 for k, v in samples.items()}
    figures.update({
        "measured_on": (report.get("machine") or {}).get("cpu_model", ""),
        "measured_at": report.get("finished_at") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "method": f"median over {cells} live runs at <= {max_load:.0%} load of each process's CPU (/proc) per "
                  f"request: gateway per pass, selector, load generator, executors beyond compute "
                  f"(faasml/simulation/calibration.py)",
        "git": report.get("git"),
        "load_average": (report.get("machine") or {}).get("load_average_at_start"),
        "runs": cells,
    })
    return figures

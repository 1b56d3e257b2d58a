"""Is int8 worth it here? fp32 against int8 latency per model family, on this CPU.

Runs the executor benchmark (raw `session.run` and the full handler) on each fp32/int8
pair and prints the speed-up. Quantized kernels are only faster where the CPU has the
integer instructions they need (VNNI/AVX2 on x86, dot-product on Arm), so this is measured
on the node class that serves, not assumed.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from faasml.bench.executor import bench_variant
from faasml.modelcard import card_path_for, list_cards
from faasml.tables import format_table


def int8_pairs(models_dir: Path) -> list[tuple[str, str]]:
    """(fp32 name, int8 name) for each family that has both, in folder order."""
    cards = list_cards(models_dir)
    int8 = {(c.family, c.task): c.name for c in cards if c.precision == "int8"}
    return [(c.name, int8[(c.family, c.task)]) for c in cards
            if c.precision == "fp32" and (c.family, c.task) in int8]


def compare(models_dir: Path, iterations: int, threads: int) -> list[dict[str, Any]]:
    rows = []
    for fp32_name, int8_name in int8_pairs(models_dir):
        fp32 = bench_variant(card_path_for(models_dir, fp32_name), iterations, threads)
        int8 = bench_variant(card_path_for(models_dir, int8_name), iterations, threads)
        rows.append({"fp32": fp32_name, "int8": int8_name,
                     "fp32_run_p50": fp32["raw"]["p50"], "int8_run_p50": int8["raw"]["p50"],
                     "fp32_full_p50": fp32["full"]["p50"], "int8_full_p50": int8["full"]["p50"],
                     "speedup_run": fp32["raw"]["p50"] / int8["raw"]["p50"],
                     "speedup_full": fp32["full"]["p50"] / int8["full"]["p50"]})
    return rows


def run_bench_int8(models_dir: Path, iterations: int, threads: int) -> int:
    """`faasml bench int8`: the table, and a note naming any family where int8 is slower."""
    if not int8_pairs(models_dir):
        print(f"faasml bench int8: error: no fp32/int8 pairs in {models_dir}/ (run `faasml models build`)",
              file=sys.stderr)
        return 2
    rows = compare(models_dir, iterations, threads)
    header = ["FP32", "INT8", "RUN_P50_MS", "INT8_RUN_P50_MS", "SPEEDUP_RUN", "FULL_P50_MS",
              "INT8_FULL_P50_MS", "SPEEDUP_FULL"]
    table = [[r["fp32"], r["int8"], f"{r['fp32_run_p50']:.2f}", f"{r['int8_run_p50']:.2f}",
              f"{r['speedup_run']:.2f}x", f"{r['fp32_full_p50']:.2f}",
              f"{r['int8_full_p50']:.2f}", f"{r['speedup_full']:.2f}x"] for r in rows]
    print(f"\nint8 against fp32, p50 over {iterations} runs, intra-op threads="
          f"{threads or 'all'} (run = session.run only; full = the executor handler)")
    print(format_table(header, table))
    slower = [r["int8"] for r in rows if r["speedup_run"] < 1]
    if slower:
        print(f"note: int8 is SLOWER than fp32 here for {', '.join(slower)}")
    return 0

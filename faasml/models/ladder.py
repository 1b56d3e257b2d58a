"""`faasml models ladder`: int8 recipes side by side, calibrated on one half of a labelled
folder and measured on the other.

For each EfficientNet-Lite family: the fp32 model and one int8 model per recipe (range
method, per-channel or per-tensor weights, QDQ or QOperator, layers kept in fp32), each
built exactly as `faasml models build` builds one (calibrate_ranges, then
quantize_from_ranges), scored top-1/top-5 on the evaluation half, paired with fp32 on the
same images, and timed (session.run p50 at batch 1 on one intra-op thread). Inputs go
through the served preprocessing (the fp32 variant's `image_tensor`), so the figures
describe what clients get. It is the evidence behind the recipe the build uses
(faasml/models/calibration.py, RECIPES) and docs/models.md's ladder.
"""
from __future__ import annotations

import json
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from faasml.models.quantize import StaticRecipe, calibrate_ranges, quantize_from_ranges

BATCH = 25


@dataclass(frozen=True)
class Trial:
    key: str
    recipe: StaticRecipe
    calibration: str = "half-128"  # half-N: N photos of the calibration half; skimage-8: the old set


def _minmax(**kw: Any) -> StaticRecipe:
    return StaticRecipe("minmax", **kw)


TRIALS: tuple[Trial, ...] = (
    Trial("minmax-skimage8", _minmax(), "skimage-8"),    # what builds did before
    Trial("minmax", _minmax()),
    Trial("minmax-500", _minmax(), "half-500"),
    Trial("percentile-99.99", StaticRecipe("percentile", 99.99)),
    Trial("percentile-99.999", StaticRecipe("percentile", 99.999)),
    Trial("entropy", StaticRecipe("entropy")),
    Trial("minmax-per-tensor", _minmax(per_channel=False)),
    Trial("minmax-qoperator", _minmax(quant_format="QOperator")),
    Trial("minmax-fp32-stem", _minmax(keep_fp32=("stem",))),
    Trial("minmax-fp32-classifier", _minmax(keep_fp32=("classifier",))),
    Trial("minmax-fp32-stem-classifier", _minmax(keep_fp32=("stem", "classifier"))),
    Trial("minmax-fp32-stem-head-classifier", _minmax(keep_fp32=("stem", "head", "classifier"))),
    Trial("entropy-fp32-stem-classifier", StaticRecipe("entropy", keep_fp32=("stem", "classifier"))),
)


@dataclass
class Scored:
    top1: float
    top5: float
    predictions: np.ndarray = field(repr=False)
    correct: np.ndarray = field(repr=False)


def score(session: Any, input_name: str, tensors: np.ndarray, labels: np.ndarray) -> Scored:
    logits = np.concatenate([session.run(None, {input_name: tensors[i:i + BATCH]})[0]
                             for i in range(0, len(tensors), BATCH)])
    top5 = np.argsort(-logits, axis=1, kind="stable")[:, :5]
    correct = top5[:, 0] == labels
    return Scored(float(correct.mean()), float((top5 == labels[:, None]).any(axis=1).mean()),
                  top5[:, 0], correct)


def latency_ms(path: Path, input_name: str, one: np.ndarray, runs: int = 40) -> tuple[float, float]:
    """(p50, interquartile range) of session.run at batch 1, one intra-op thread."""
    from faasml.executor.session import create_session

    session, _ = create_session(str(path), "cpu", 1)
    for _ in range(5):
        session.run(None, {input_name: one})
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, {input_name: one})
        times.append((time.perf_counter() - start) * 1e3)
    q = statistics.quantiles(times, n=4)
    return statistics.median(times), q[2] - q[0]


def _session(path: Path) -> Any:
    from faasml.executor.session import create_session

    return create_session(str(path), "cpu", 0)[0]


def run_family(fp32_card: Path, evaluation: list[Any], calibration: list[Any],
               skimage: list[Path], trials: tuple[Trial, ...] = TRIALS,
               on_row: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    from faasml.executor.variant import load_variant

    fp32 = load_variant(fp32_card, "cpu", 0)
    name = fp32.input_names[0]
    eval_x = np.concatenate([fp32.image_tensor(i.path.read_bytes()) for i in evaluation])
    labels = np.array([i.index for i in evaluation])
    from faasml.models.labelled import spread_subset

    half = [fp32.image_tensor(i.path.read_bytes()) for i in calibration]
    calib = {"skimage-8": [fp32.image_tensor(p.read_bytes()) for p in skimage]}
    for trial in trials:
        if trial.calibration.startswith("half-"):
            count = int(trial.calibration.removeprefix("half-"))
            chosen = {id(i) for i in spread_subset(calibration, count)}
            calib[trial.calibration] = [t for i, t in zip(calibration, half) if id(i) in chosen]
    feeds = {k: [{name: np.concatenate(v[i:i + 8])} for i in range(0, len(v), 8)]
             for k, v in calib.items()}
    fp32_path = fp32_card.parent / fp32.card.file
    base = score(fp32.session, name, eval_x, labels)
    p50, iqr = latency_ms(fp32_path, name, eval_x[:1])
    rows = [{"family": fp32.card.family, "trial": "fp32", "recipe": "fp32", "n": len(labels),
             "top1": base.top1, "top5": base.top5, "p50_ms": p50, "iqr_ms": iqr}]
    if on_row:
        on_row(rows[-1])
    ranges_cache: dict[tuple, Any] = {}
    with tempfile.TemporaryDirectory(prefix="faasml-ladder-") as folder:
        for trial in trials:
            r = trial.recipe
            key = (r.method, r.percentile if r.method == "percentile" else None, trial.calibration)
            started = time.perf_counter()
            if key not in ranges_cache:
                ranges_cache[key] = calibrate_ranges(fp32_path, feeds[trial.calibration], r)
            calibrated = time.perf_counter()
            dest = Path(folder) / f"{trial.key}.onnx"
            quantize_from_ranges(fp32_path, dest, ranges_cache[key], r)
            got = score(_session(dest), name, eval_x, labels)
            p50, iqr = latency_ms(dest, name, eval_x[:1])
            rows.append({
                "family": fp32.card.family, "trial": trial.key, "recipe": r.label,
                "calibration": trial.calibration, "n": len(labels),
                "calibration_images": len(calib[trial.calibration]),
                "top1": got.top1, "top5": got.top5, "p50_ms": p50, "iqr_ms": iqr,
                "top1_lost_points": round((base.top1 - got.top1) * 100, 2),
                "same_top1_as_fp32": float((got.predictions == base.predictions).mean()),
                "only_fp32_right": int((base.correct & ~got.correct).sum()),
                "only_int8_right": int((got.correct & ~base.correct).sum()),
                "calibrate_s": round(calibrated - started, 1),
                "size_bytes": dest.stat().st_size})
            if on_row:
                on_row(rows[-1])
    return rows


def save(rows: list[dict[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")


def table(rows: list[dict[str, Any]]) -> str:
    from faasml.tables import format_table

    header = ["FAMILY", "TRIAL", "CALIBRATION", "TOP1", "TOP5", "LOST_PTS", "SAME_TOP1", "ONLY_FP32", "ONLY_INT8",
              "P50_MS", "IQR_MS"]
    body = [[r["family"], r["trial"], r.get("calibration", "-"), f"{r['top1']:.3f}", f"{r['top5']:.3f}",
             f"{r.get('top1_lost_points', 0):.1f}", f"{r.get('same_top1_as_fp32', 1):.3f}",
             str(r.get("only_fp32_right", "-")), str(r.get("only_int8_right", "-")),
             f"{r['p50_ms']:.2f}", f"{r['iqr_ms']:.2f}"] for r in rows]
    return format_table(header, body) + (
        f"\n(n={rows[0]['n']} images of the evaluation half; P50_MS: session.run at batch 1, one intra-op "
        "thread, median of 40; ONLY_*: images only that model gets right)" if rows else "")


def plot(rows: list[dict[str, Any]], path: Path, highlight: dict[str, str] | None = None,
         points: list[dict[str, Any]] | None = None) -> None:
    """Left: top-1 against latency per variant (fp32 squares, int8 recipes dots, the built
    recipe stars), or, with `points` ({family, label, top1, p50_ms, marker}), those
    (e.g. latencies measured side by side in one quiet run). Right: top-1 points each
    recipe loses against fp32, per family."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    highlight = highlight or {}
    families = list(dict.fromkeys(r["family"] for r in rows))
    trials = list(dict.fromkeys(r["trial"] for r in rows if r["trial"] != "fp32"))
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2), gridspec_kw={"width_ratios": [1, 1.3]})
    for k, family in enumerate(families):
        colour = f"C{k}"
        for p in (p for p in points or [] if p["family"] == family):
            left.scatter(p["p50_ms"], p["top1"] * 100, color=colour, marker=p.get("marker", "o"), s=120,
                         label=f"{family} {p['label']}", zorder=3)
        for r in (r for r in rows if r["family"] == family and points is None):
            chosen = r["trial"] == "fp32" or highlight.get(family) == r["trial"]
            marker = "s" if r["trial"] == "fp32" else ("*" if chosen else "o")
            label = f"{family} {'fp32' if r['trial'] == 'fp32' else 'int8 ' + r['trial']}" if chosen else None
            left.scatter(r["p50_ms"], r["top1"] * 100, color=colour, marker=marker, s=140 if chosen else 22,
                         alpha=1.0 if chosen else 0.4, label=label, zorder=3 if chosen else 2)
        lost = {r["trial"]: r.get("top1_lost_points") for r in rows if r["family"] == family}
        xs = [i + (k - (len(families) - 1) / 2) * 0.8 / len(families) for i in range(len(trials))]
        right.bar(xs, [lost.get(t) or 0 for t in trials], width=0.8 / len(families), color=colour, label=family)
    left.set_xlabel("latency, ms (session.run p50, batch 1, one thread; a shared, loaded CPU)")
    left.set_ylabel("top-1 % on the evaluation half (n=500)")
    left.set_title("accuracy against latency")
    left.grid(alpha=0.3)
    left.legend(fontsize=7, loc="center")
    right.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    right.axhline(0.0, color="black", linewidth=0.6)
    right.set_xticks(range(len(trials)))
    right.set_xticklabels(trials, rotation=35, ha="right", fontsize=7)
    right.set_ylabel("top-1 points lost against fp32 (same 500 photos)")
    right.set_title("int8 recipes (dashed: the 1-point goal)")
    right.legend(fontsize=7)
    right.grid(axis="y", alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

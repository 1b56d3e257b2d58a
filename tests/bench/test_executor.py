"""`faasml bench executor` on a tiny real variant: both resize backends over one session."""
from __future__ import annotations

from faasml.bench import executor


def test_resize_backends_side_by_side_share_one_session_run(tiny_models):
    rows = executor.bench_pipelines(tiny_models["image"], iterations=4, threads=1,
                                    resize_backends=["pillow", "opencv"])
    assert [r["resize_backend"] for r in rows] == ["pillow", "opencv"]
    assert rows[0]["raw"] == rows[1]["raw"] and rows[0]["raw"]["p50"] > 0
    for row in rows:
        # Each leg is timed on its own: which is longer is for the benchmark to say on a
        # quiet machine, not for a test (a busy one reorders four iterations' medians).
        assert row["full"]["p50"] > 0 and row["prepare"]["p50"] > 0
        assert row["ratio_p50"] == row["full"]["p50"] / row["raw"]["p50"]


def test_the_card_s_own_backend_by_default(tiny_models):
    row = executor.bench_variant(tiny_models["image"], iterations=2, threads=1)
    assert row["resize_backend"] == "opencv" and row["variant"] == "tiny-colour"


def test_cudnn_search_times_each_mode_by_batch_size(tiny_models, tmp_path):
    """On CPU the search option changes nothing, but every figure is there, per mode."""
    import shutil

    for path in tiny_models["image"].parent.glob("tiny-colour*"):
        shutil.copy(path, tmp_path)
    rows = executor.bench_cudnn_search(str(tmp_path), None, iterations=3, batch_sizes=[1, 4], provider="cpu")
    assert [(r["variant"], r["search"]) for r in rows] == [("tiny-colour", "exhaustive"), ("tiny-colour", "heuristic")]
    for row in rows:
        assert row["open_s"] > 0 and set(row["first_run_ms"]) == set(row["warm_p50_ms"]) == {1, 4}
        assert all(ms > 0 for ms in row["warm_p50_ms"].values())

"""`faasml bench executor` on a tiny real variant: both resize backends over one session."""
from __future__ import annotations

from faasml.bench import executor


def test_resize_backends_side_by_side_share_one_session_run(tiny_models):
    rows = executor.bench_pipelines(tiny_models["image"], iterations=4, threads=1,
                                    resize_backends=["pillow", "opencv"])
    assert [r["resize_backend"] for r in rows] == ["pillow", "opencv"]
    assert rows[0]["raw"] == rows[1]["raw"] and rows[0]["raw"]["p50"] > 0
    for row in rows:
        assert row["full"]["p50"] > row["prepare"]["p50"] > 0
        assert row["ratio_p50"] == row["full"]["p50"] / row["raw"]["p50"]


def test_the_card_s_own_backend_by_default(tiny_models):
    row = executor.bench_variant(tiny_models["image"], iterations=2, threads=1)
    assert row["resize_backend"] == "opencv" and row["variant"] == "tiny-colour"

"""The latency window keeps its sorted compute times and overheads incrementally; the
figures must equal a re-sort of the window after any sequence of samples."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from faasml.selector.engine.signals import INTRINSIC_QUANTILE, LatencyWindow

samples = st.lists(st.tuples(st.sampled_from([0.001, 0.2, 1.0, 4.0]),          # time step
                             st.floats(0, 50, allow_nan=False) | st.just(5.0),   # compute (ties too)
                             st.floats(0, 5, allow_nan=False) | st.just(0.5)),    # overhead
                   min_size=1, max_size=200)


@settings(max_examples=60, deadline=None)
@given(size=st.sampled_from([1, 2, 8, 64]), max_age_s=st.sampled_from([0.5, 3.0, 30.0]), steps=samples)
def test_incremental_figures_equal_a_resort_of_the_window(size, max_age_s, steps):
    window, now = LatencyWindow(size, max_age_s), 0.0
    for step, compute_ms, overhead_ms in steps:
        now += step
        window.record(now, compute_ms, overhead_ms)
        computes = sorted(s[1] for s in window.samples)
        assert window.service_ms == computes[int(len(computes) * INTRINSIC_QUANTILE)]
        assert window.rtt_ms == min(s[2] for s in window.samples)
        assert len(window.samples) <= size

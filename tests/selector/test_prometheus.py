"""A real Prometheus as the selector's load source (the cluster setup)."""
from __future__ import annotations

import asyncio
import os
import shutil
import time

import pytest

from faasml.selector.client import HttpClient
from faasml.selector.loadsource import PrometheusLoadSource

from .prometheus import PrometheusServer
from .toygateway import ToyGateway

# Skipped only outside CI: under CI=true a missing Prometheus must fail, not pass quietly.
pytestmark = pytest.mark.skipif(not os.environ.get("CI") and not shutil.which("prometheus")
                                and not os.path.exists("/usr/bin/prometheus"),
                                reason="Debian package prometheus is not installed (.ci/run installs it)")

GATEWAY_METRICS = """\
# TYPE gateway_function_invocation_started counter
gateway_function_invocation_started{function_name="lite2.openfaas-fn"} 12
gateway_function_invocation_started{function_name="lite0.openfaas-fn"} 3
# TYPE gateway_function_invocation_total counter
gateway_function_invocation_total{code="200",function_name="lite2.openfaas-fn"} 3
gateway_function_invocation_total{code="500",function_name="lite2.openfaas-fn"} 1
gateway_function_invocation_total{code="200",function_name="lite0.openfaas-fn"} 3
# TYPE faasml_selector_direct_started_total counter
faasml_selector_direct_started_total{function_name="lite0.openfaas-fn"} 5
# TYPE faasml_selector_direct_seconds histogram
faasml_selector_direct_seconds_bucket{code="200",function_name="lite0.openfaas-fn",le="+Inf"} 2
faasml_selector_direct_seconds_sum{code="200",function_name="lite0.openfaas-fn"} 0.02
faasml_selector_direct_seconds_count{code="200",function_name="lite0.openfaas-fn"} 2
# TYPE gateway_service_count gauge
gateway_service_count{function_name="lite2.openfaas-fn"} 2
gateway_service_count{function_name="lite0.openfaas-fn"} 1
"""


def test_prometheus_source_reads_inflight_and_replicas(tmp_path):
    gateway = ToyGateway().start()
    gateway.metrics_text = GATEWAY_METRICS
    prometheus = PrometheusServer(tmp_path, [gateway.url.removeprefix("http://")]).start()
    try:
        prometheus.wait_for('gateway_service_count{function_name="lite0.openfaas-fn"}')
        loads = asyncio.run(PrometheusLoadSource(prometheus.url, HttpClient(), time.monotonic).poll())
        assert loads["lite2.openfaas-fn"].inflight == 8      # 12 started - 4 finished
        assert loads["lite2.openfaas-fn"].replicas == 2
        # 3 - 3 through the gateway, and 5 - 2 the selector sent straight to it
        assert loads["lite0.openfaas-fn"].inflight == 3
        assert loads["lite0.openfaas-fn"].replicas == 1
    finally:
        prometheus.stop()
        gateway.stop()

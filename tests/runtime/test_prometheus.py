"""A real Prometheus (Debian's `prometheus`) scrapes `faasml up` and PromQL sees our invocations."""
from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import requests

from faasml.runtime.replicas import free_port
from tests.runtime.conftest import function

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
SCRAPE_INTERVAL_S = 1


@pytest.fixture(scope="module")
def runtime(start_runtime):
    runtime = start_runtime({"echo": function("toy", "faasml/toy:dev")})
    runtime.wait_available("echo", 1)
    return runtime


@pytest.fixture(scope="module")
def prometheus(runtime, tmp_path_factory):
    if not shutil.which(PROMETHEUS):
        pytest.skip("prometheus is not installed: apt-get install prometheus (make test does, as root)")
    folder = tmp_path_factory.mktemp("prometheus")
    (folder / "prometheus.yml").write_text(
        f"global:\n  scrape_interval: {SCRAPE_INTERVAL_S}s\n  evaluation_interval: {SCRAPE_INTERVAL_S}s\n"
        "scrape_configs:\n  - job_name: faasml-gateway\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{runtime.port}']\n")
    port = free_port()
    log = open(folder / "prometheus.log", "w")
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={folder / 'prometheus.yml'}",
         f"--storage.tsdb.path={folder / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/-/ready", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail(f"prometheus did not start:\n{(folder / 'prometheus.log').read_text()}")
    yield url
    process.terminate()
    process.wait(10)
    log.close()


def query(prometheus: str, promql: str) -> list[dict]:
    response = requests.get(prometheus + "/api/v1/query", params={"query": promql}, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["data"]["result"]


def wait_for_value(prometheus: str, promql: str, expected: float, timeout_s: float = 20) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    result: list[dict] = []
    while time.monotonic() < deadline:
        result = query(prometheus, promql)
        if result and float(result[0]["value"][1]) == expected:
            return result
        time.sleep(0.5)
    raise AssertionError(f"{promql} never became {expected}; last: {result}")


def test_prometheus_scrapes_the_invocations_this_test_caused(runtime, prometheus):
    for _ in range(7):
        assert runtime.invoke("echo").status_code == 200
    for _ in range(2):
        assert runtime.invoke("echo/status?code=500").status_code == 500
    fn = 'function_name="echo.openfaas-fn"'
    result = wait_for_value(prometheus, f'gateway_function_invocation_total{{{fn},code="200"}}', 7)
    assert result[0]["metric"]["job"] == "faasml-gateway"
    wait_for_value(prometheus, f'gateway_function_invocation_total{{{fn},code="500"}}', 2)
    wait_for_value(prometheus, f"gateway_function_invocation_started{{{fn}}}", 9)
    wait_for_value(prometheus, f"sum(gateway_functions_seconds_count{{{fn}}})", 9)
    wait_for_value(prometheus, f"gateway_service_count{{{fn}}}", 1)
    # The histogram is well formed: PromQL can take a quantile of it.
    p50 = query(prometheus, f'histogram_quantile(0.5, sum by (le) (gateway_functions_seconds_bucket{{{fn}}}))')
    assert 0 < float(p50[0]["value"][1]) <= 0.25

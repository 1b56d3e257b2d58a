"""One OpenFaaS per site: the selector lists several gateways and reads each one's load
from where that gateway serves its metrics (FAASML_GATEWAY_METRICS_URLS)."""
from __future__ import annotations

import asyncio
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from faasml.selector.config import SelectorConfig
from faasml.selector.client import HttpClient
from faasml.selector.gateway_client import Gateway
from faasml.settings import ConfigError, load

SITES = {"FAASML_GATEWAYS": "edge=http://10.0.0.5:31112,cloud=http://gateway.openfaas:8080",
         "FAASML_GATEWAY_PASSWORD": "pw"}


def test_each_site_gets_its_own_metrics_url():
    config = load(SelectorConfig, {**SITES, "FAASML_GATEWAY_METRICS_URLS":
                                   "edge=http://10.0.0.5:31119/metrics, cloud=http://gateway-metrics.openfaas:8082/metrics"})
    metrics = {e.name: e.metrics_url for e in config.endpoints()}
    assert metrics == {"edge": "http://10.0.0.5:31119/metrics",
                       "cloud": "http://gateway-metrics.openfaas:8082/metrics"}


def test_a_site_left_out_keeps_its_default_and_the_first_gateway_setting_still_works():
    config = load(SelectorConfig, {**SITES, "FAASML_GATEWAY_METRICS_URL": "http://10.0.0.5:31119/metrics",
                                   "FAASML_GATEWAY_METRICS_URLS": "cloud=http://gateway-metrics.openfaas:8082/metrics"})
    metrics = {e.name: e.metrics_url for e in config.endpoints()}
    assert metrics == {"edge": "http://10.0.0.5:31119/metrics",
                       "cloud": "http://gateway-metrics.openfaas:8082/metrics"}


@pytest.mark.parametrize("raw,message", [
    ("fog=http://10.0.0.9:31119/metrics", "names no gateway called fog"),
    ("edge", "is not name=url"),
    ("edge=10.0.0.5:31119/metrics", "not an http(s) URL"),
])
def test_a_bad_metrics_map_stops_the_start(raw, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load(SelectorConfig, {**SITES, "FAASML_GATEWAY_METRICS_URLS": raw})


@pytest.fixture
def metrics_server():
    """A real HTTP server on a free port answering GET /metrics (and 404 elsewhere)."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            found = self.path == "/metrics"
            body = b'gateway_function_invocation_started{function_name="a.openfaas-fn"} 3\n' if found else b""
            self.send_response(200 if found else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_client_reads_load_from_the_site_url(metrics_server):
    """The gateway client polls the configured metrics URL; the gateway's own URL (here
    one that serves no /metrics, like an OpenFaaS gateway's :8080) is not asked."""
    url = f"{metrics_server}/metrics"
    sites = {**SITES, "FAASML_GATEWAYS": f"edge={metrics_server}/gateway,cloud=http://gateway.openfaas:8080"}
    config = load(SelectorConfig, {**sites, "FAASML_GATEWAY_METRICS_URLS": f"edge={url}"})
    edge = next(e for e in config.endpoints() if e.name == "edge")
    assert "gateway_function_invocation_started" in asyncio.run(Gateway(edge, HttpClient()).metrics_text(timeout_s=2))


def test_stack_yml_cluster_metrics_url_yields_to_the_local_runtime():
    """stack.yml's selector environment on a cluster, and the same under `faasml up`,
    which adds its own gateway and metrics URLs (the function's env is merged over them)."""
    import yaml

    from tests.edge.conftest import ROOT

    environment = yaml.safe_load((ROOT / "stack.yml").read_text())["functions"]["selector"]["environment"]
    cluster = load(SelectorConfig, {k: str(v) for k, v in environment.items()}).endpoints()[0]
    assert (cluster.url, cluster.metrics_url) == ("http://gateway.openfaas:8080",
                                                  "http://gateway-metrics.openfaas:8082/metrics")
    local = {"FAASML_GATEWAY_URL": "http://127.0.0.1:8095",
             "FAASML_GATEWAY_METRICS_URL": "http://127.0.0.1:8095/metrics", **environment}
    runtime = load(SelectorConfig, {k: str(v) for k, v in local.items()}).endpoints()[0]
    assert (runtime.url, runtime.metrics_url) == ("http://127.0.0.1:8095", "http://127.0.0.1:8095/metrics")

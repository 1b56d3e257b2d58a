"""A small real HTTP server playing an OpenFaaS gateway with toy functions, for tests of
discovery and forwarding mechanics before (and besides) the local runtime.

`/system/functions` (basic auth) lists whatever the test puts in `functions`;
`/function/<name>[.<ns>]` runs the toy behaviour named in `behaviours[name]`:
  echo      200 JSON naming the variant, with X-Faasml-Compute-Ms
  slow:<s>  sleep <s> seconds, then echo
  busy:<s>  sleep <s> seconds and report them as compute time (a contended executor)
  status:<n> answer status n with a JSON error
  drop      close the connection without answering
  hang      answer nothing (POST, and GET /function/<name>/...) until `resume` is set
`/metrics` serves `metrics_text`. Every call is recorded in `calls`; `listings` counts
the `/system/functions` calls, each of which takes `list_delay_s`.
"""
from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PASSWORD = "toy-secret"


def executor_status(name: str, task: str, accuracy: float, latency_ms: float, *,
                    replicas: int = 1, rtt_ms: float | None = None, namespace: str = "openfaas-fn",
                    family: str | None = None) -> dict[str, Any]:
    annotations = {"faasml.io/task": task, "faasml.io/accuracy": str(accuracy),
                   "faasml.io/accuracy-source": "toy", "faasml.io/latency-ms": str(latency_ms),
                   "faasml.io/node-class": "cloud", "faasml.io/precision": "fp32"}
    if family is not None:
        annotations["faasml.io/family"] = family
    if rtt_ms is not None:
        annotations["faasml.io/rtt-ms"] = str(rtt_ms)
    return {"name": name, "namespace": namespace, "image": f"toy/{name}", "replicas": replicas,
            "availableReplicas": replicas, "labels": {"faasml.io/role": "executor"},
            "annotations": annotations, "invocationCount": 0}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default 5 refuses connections in a burst of requests


class ToyGateway:
    def __init__(self) -> None:
        self.functions: list[dict[str, Any]] = []
        self.behaviours: dict[str, str] = {}
        self.metrics_text = ""
        self.calls: list[tuple[str, str, dict[str, str], bytes]] = []
        self.listings = 0
        self.list_delay_s = 0.0
        self.resume = threading.Event()
        self.server = _Server(("127.0.0.1", 0), self._handler_class())
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    def start(self) -> "ToyGateway":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.resume.set()   # hung handlers end
        self.server.shutdown()
        self.server.server_close()

    def _handler_class(self):
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as two writes: without TCP_NODELAY the body waits for
            # the client's delayed ACK of the headers (~40 ms), which would pass for latency.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for key, value in (headers or {"Content-Type": "application/json"}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == "/system/functions":
                    token = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
                    if self.headers.get("Authorization") != f"Basic {token}":
                        return self._send(401, b"unauthorized", {"Content-Type": "text/plain"})
                    gateway.listings += 1
                    time.sleep(gateway.list_delay_s)
                    return self._send(200, json.dumps(gateway.functions).encode())
                if self.path == "/metrics":
                    return self._send(200, gateway.metrics_text.encode(), {"Content-Type": "text/plain"})
                if self.path.startswith("/function/"):
                    name = self.path.removeprefix("/function/").split("/")[0].split(".")[0]
                    if gateway.behaviours.get(name) == "hang":
                        gateway.resume.wait()
                    if name in gateway.behaviours:
                        return self._send(200, b'{"ready": true}')
                self._send(404, b"{}")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path, _, query = self.path.partition("?")
                function, _, subpath = path.removeprefix("/function/").partition("/")
                name = function.split(".")[0]
                gateway.calls.append((name, query, dict(self.headers.items()), body))
                behaviour = gateway.behaviours.get(name)
                if behaviour is None:
                    return self._send(404, b"function not found", {"Content-Type": "text/plain"})
                kind, _, arg = behaviour.partition(":")
                if kind == "hang":
                    gateway.resume.wait()
                if kind == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if kind == "status":
                    status = int(arg)
                    return self._send(status, json.dumps({"error": {"code": "toy", "message": kind}}).encode())
                compute_ms = 0.2
                if kind in ("slow", "busy"):
                    time.sleep(float(arg))
                    compute_ms = float(arg) * 1000 if kind == "busy" else compute_ms
                payload = {"variant": name, "bytes": len(body), "query": query}
                if subpath:
                    payload["path"] = "/" + subpath
                self._send(200, json.dumps(payload).encode(),
                           {"Content-Type": "application/json", "X-Faasml-Compute-Ms": f"{compute_ms:g}"})

        return Handler

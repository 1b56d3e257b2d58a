"""A real Prometheus server (Debian's /usr/bin/prometheus) on a free port, for tests."""
from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

from faasml.runtime.replicas import free_port


class PrometheusServer:
    def __init__(self, folder: Path, targets: list[str], scrape_interval_s: float = 1.0):
        self.binary = shutil.which("prometheus") or "/usr/bin/prometheus"
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {"global": {"scrape_interval": f"{scrape_interval_s:g}s", "evaluation_interval": "1s"},
                  "scrape_configs": [{"job_name": "gateway", "metrics_path": "/metrics",
                                      "static_configs": [{"targets": targets}]}]}
        (folder / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 30.0) -> "PrometheusServer":
        self.process = subprocess.Popen(
            [self.binary, f"--config.file={self.folder / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.folder / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=open(self.folder / "prometheus.log", "wb"))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/-/ready", timeout=1).read()
                return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"prometheus did not become ready: {(self.folder / 'prometheus.log').read_text()[-2000:]}")

    def query(self, promql: str) -> list[dict]:
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        return json.loads(urllib.request.urlopen(url, timeout=5).read())["data"]["result"]

    def wait_for(self, promql: str, timeout_s: float = 20.0) -> list[dict]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            result = self.query(promql)
            if result:
                return result
            time.sleep(0.3)
        raise AssertionError(f"prometheus never had {promql}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


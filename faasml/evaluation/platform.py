"""The platform under test: `faasml up` started as a subprocess (or a running gateway),
and what it runs where.

Each launched platform gets a free port on 127.0.0.1, its own state folder (logs, run
folders), a generated admin password passed through `FAASML_GATEWAY_PASSWORD`, and the
scenario's nodes file; it is stopped (SIGINT, then SIGTERM, then SIGKILL) when the
`with` block ends, whatever ends it. Replicas die with it (`PR_SET_PDEATHSIG`).
"""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from faasml.client.protocol import default_api_key
from faasml.selector.views import listed_available, ready_executors

REPO = Path(__file__).resolve().parents[2]
DEFAULT_STACK = REPO / "stack.yml"
DEFAULT_NODES = REPO / "edge" / "nodes.local.yml"


class PlatformError(RuntimeError):
    pass


@dataclass(frozen=True)
class Replica:
    function: str
    instance: str
    node: str
    pid: int


@dataclass(frozen=True)
class VariantInfo:
    name: str
    task: str
    accuracy: float
    node: str            # the node its (first) replica runs on
    rtt_ms: float        # the node's simulated round trip
    replicas: int


@dataclass
class Topology:
    """Which variants run on which node, the nodes' CPUs, and every process's PID."""

    variants: dict[str, VariantInfo]
    node_cpus: dict[str, int]
    replicas: list[Replica]
    gateway_pid: int | None = None
    selector_nodes: list[str] = field(default_factory=list)

    def for_task(self, task: str) -> dict[str, VariantInfo]:
        return {n: v for n, v in self.variants.items() if v.task == task}

    def to_dict(self) -> dict:
        return {"node_cpus": self.node_cpus, "selector_nodes": self.selector_nodes,
                "variants": {n: v.__dict__ for n, v in sorted(self.variants.items())},
                "replicas": [r.__dict__ for r in self.replicas]}


def node_cpu_counts(nodes_file: Path | None) -> dict[str, int]:
    from faasml.runtime.nodes import available_cpus, load_nodes

    if nodes_file is None or not Path(nodes_file).is_file():
        return {"local": len(available_cpus())}
    nodes, _ = load_nodes(nodes_file)
    return {n.name: len(n.cpus) if n.cpus else len(available_cpus()) for n in nodes}


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the harness dies, even by SIGKILL, so a
    platform never outlives its evaluation (its replicas die with it in turn)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    from faasml.runtime.replicas import free_port as runtime_free_port

    return runtime_free_port()


class Platform:
    """A `faasml up` of its own, or (with `url`) a running gateway used as it is."""

    def __init__(self, state_dir: Path, stack: Path = DEFAULT_STACK, nodes: Path | None = None,
                 url: str | None = None, password: str | None = None, start_timeout_s: float = 120.0,
                 only: list[str] | None = None):
        self.only = list(only or [])
        self.state_dir = Path(state_dir)
        # A platform of our own reads its latency profiles from here (`profile_here`);
        # a running gateway's selector keeps whatever profiles it was deployed with.
        self.profiles: Path | None = None if url is not None else self.state_dir / "profiles.json"
        self.stack = Path(stack)
        self.nodes = Path(nodes) if nodes else None
        self.external = url is not None
        self.url = url.rstrip("/") if url else None
        self.password = password
        self.start_timeout_s = start_timeout_s
        self.process: subprocess.Popen | None = None
        self._log = None
        self.http = requests.Session()
        key = default_api_key()
        if key:   # a keyed selector's routes (its readiness, /variants) need it, as the client sends it
            self.http.headers["X-Api-Key"] = key

    @property
    def nodes_file(self) -> Path | None:
        if self.nodes:
            return self.nodes
        default = self.stack.parent / "edge" / "nodes.local.yml"
        return default if default.is_file() else None

    # lifecycle
    def __enter__(self) -> "Platform":
        if not self.external:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.password = secrets.token_hex(12)
        args = [sys.executable, "-m", "faasml", "up", "-f", str(self.stack), "--port", str(port),
                "--host", "127.0.0.1", "--state-dir", str(self.state_dir / "faasml")]
        if self.nodes:
            args += ["--nodes", str(self.nodes)]
        for name in self.only:
            args += ["--filter", name]
        env = dict(os.environ, FAASML_GATEWAY_PASSWORD=self.password, PYTHONUNBUFFERED="1")
        if self.profiles is not None:
            # The selector's profiles are this platform's own file (it re-reads it when it
            # changes): the shipped ones, even in a reused state folder, until
            # `profile_here` measures this machine.
            shipped = REPO / "functions/selector/profiles.json"
            self.profiles.write_text(shipped.read_text() if shipped.is_file() else '{"variants": {}}\n')
            env["FAASML_PROFILES"] = str(self.profiles)
        # The harness's own package must be what the platform runs (PYTHONPATH may point at it).
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        self._log = open(self.state_dir / "faasml-up.log", "w")
        self.process = subprocess.Popen(args, cwd=str(REPO), env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        preexec_fn=_die_with_parent)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            for sig, wait_s in ((signal.SIGINT, 15.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                try:
                    process.send_signal(sig)
                    process.wait(wait_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
                except ProcessLookupError:
                    break
        if self._log:
            self._log.close()
            self._log = None
        self.http.close()

    def log_tail(self, lines: int = 30) -> str:
        path = self.state_dir / "faasml-up.log"
        if not path.is_file():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # readiness
    def _get(self, path: str, auth: bool = False, timeout: float = 5.0) -> requests.Response:
        return self.http.get(self.url + path, timeout=timeout,
                             auth=("admin", self.password) if auth and self.password else None)

    def functions(self) -> list[dict]:
        response = self._get("/system/functions", auth=True)
        if response.status_code == 401:
            raise PlatformError("the gateway refused the admin password for /system/functions: set "
                                "FAASML_GATEWAY_PASSWORD (or run from the folder holding .faasml/)")
        response.raise_for_status()
        return response.json()

    def wait_ready(self, task: str) -> None:
        """Until the gateway answers, every schedulable function has all its replicas ready,
        and the selector lists every ready variant of `task`."""
        deadline = time.monotonic() + self.start_timeout_s
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise PlatformError(f"faasml up exited with code {self.process.returncode}:\n{self.log_tail()}")
            try:
                last = self._readiness(task)
                if last == "":
                    return
            except (requests.RequestException, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.5)
        raise PlatformError(f"platform not ready after {self.start_timeout_s:.0f}s ({last})\n{self.log_tail()}")

    def _readiness(self, task: str) -> str:
        if self._get("/healthz", timeout=2).status_code != 200:
            return "gateway not answering"
        functions = self.functions()
        waiting = [f["name"] for f in functions if not (f.get("faasml") or {}).get("unschedulable")
                   and f.get("availableReplicas", 0) < max(1, f.get("replicas", 1))]
        if waiting:
            return f"replicas starting: {', '.join(waiting)}"
        if self._get("/function/selector/ready", timeout=2).status_code != 200:
            return "selector not ready"
        expected = ready_executors(functions, task)
        if not expected:
            raise PlatformError(f"no ready executor for task {task!r} on {self.url}")
        missing = expected - listed_available(self._get("/function/selector/variants").json())
        return f"selector has not listed {sorted(missing)}" if missing else ""

    # what runs where
    def topology(self) -> Topology:
        functions = self.functions()
        node_cpus = node_cpu_counts(self.nodes_file)
        variants, replicas, selector_nodes = {}, [], []
        for f in functions:
            states = (f.get("faasml") or {}).get("replicaStates") or []
            for s in states:
                if s.get("pid"):
                    replicas.append(Replica(f["name"], s.get("instance", ""), s.get("node", ""), int(s["pid"])))
            role = f.get("labels", {}).get("faasml.io/role")
            if role == "selector":
                selector_nodes = sorted({s.get("node", "") for s in states})
            if role != "executor" or f.get("availableReplicas", 0) < 1 or not states:
                continue
            annotations = f.get("annotations", {})
            node = states[0].get("node", "")
            rtt = float(((f.get("faasml") or {}).get("rttMs") or {}).get(node, 0.0))
            try:
                accuracy = float(annotations.get("faasml.io/accuracy", "nan"))
            except ValueError:
                accuracy = float("nan")
            variants[f["name"]] = VariantInfo(f["name"], annotations.get("faasml.io/task", ""), accuracy,
                                              node, rtt, len(states))
        for node in {r.node for r in replicas} - set(node_cpus):
            node_cpus[node] = 1  # a node the nodes file does not name (gateway mode): assume 1 CPU
        return Topology(variants, node_cpus, replicas,
                        gateway_pid=self.process.pid if self.process else None,
                        selector_nodes=selector_nodes)

    def scale(self, function: str, replicas: int) -> None:
        response = self.http.post(f"{self.url}/system/scale-function/{function}", timeout=10,
                                  auth=("admin", self.password),
                                  json={"serviceName": function, "replicas": replicas,
                                        "namespace": "openfaas-fn"})
        if response.status_code >= 300:
            raise PlatformError(f"scaling {function} to {replicas}: HTTP {response.status_code} {response.text[:200]}")

    def restart_selector(self, task: str, timeout_s: float = 60.0) -> float:
        """Replace the selector's replica(s) with fresh ones (scale to 0, then back), so a
        run starts from the same selector state whatever ran before it; returns seconds."""
        started = time.monotonic()
        states = [f for f in self.functions() if f["name"] == "selector"]
        replicas = max(1, states[0].get("replicas", 1)) if states else 1
        self.scale("selector", 0)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self._get("/system/function/selector", auth=True).json()
            if not (status.get("faasml") or {}).get("replicaStates"):
                break
            time.sleep(0.1)
        self.scale("selector", replicas)
        self.wait_ready(task)
        return time.monotonic() - started

    def policies(self) -> tuple[list[str], str]:
        listed = self._get("/function/selector/variants").json()
        return list(listed.get("policies", [])), str(listed.get("default_policy", ""))

    def in_flight(self) -> float:
        """Requests in flight through the gateway (its gauge), to wait for a drain."""
        text = self._get("/metrics", timeout=2).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith("gateway_function_invocation_inflight"):
                try:
                    total += float(line.rsplit(" ", 1)[1])
                except ValueError:
                    pass
        return total

    def drain(self, timeout_s: float = 15.0, settle_s: float = 1.0) -> float:
        """Wait until nothing is in flight (or `timeout_s`), then `settle_s` more."""
        deadline = time.monotonic() + timeout_s
        left = 0.0
        while time.monotonic() < deadline:
            try:
                left = self.in_flight()
            except requests.RequestException:
                break
            if left <= 0:
                break
            time.sleep(0.2)
        time.sleep(settle_s)
        return left

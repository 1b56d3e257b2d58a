"""One local platform for a harness: `faasml up` started as a subprocess, and what it
runs where.

The evaluation, the benchmarks (`faasml bench selector|gateway|coldstart|memory|
throughput`), `make chaos` and the tests all start their platform here. Each gets:

  * a folder of its own, holding what `write_stack` generates (a stack with custom
    handlers, a nodes file), `faasml up`'s output (`faasml-up.log`) and its state folder
    (`state/`: logs, run folders, secrets);
  * a free port on 127.0.0.1 and a generated admin password, passed through
    `FAASML_GATEWAY_PASSWORD`;
  * a readiness wait: the gateway answers, every schedulable function has all its
    replicas ready, and the selector (where one is deployed) is ready and lists every
    ready executor as available (it lists only every so often, so it trails the gateway);
  * a certain end: stopped when the `with` block ends, whatever ends it (SIGINT, then
    SIGTERM, then SIGKILL); if the harness itself dies, even by SIGKILL, the kernel sends
    `faasml up` SIGTERM (PR_SET_PDEATHSIG), and its replicas die with it in turn.

With `url`, a running gateway is used as it is: nothing is started or stopped.
A started platform runs the package this module belongs to (PYTHONPATH points at it).
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
from typing import Any, Callable, Mapping

from urllib.error import HTTPError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

import requests
import yaml

from faasml.contract import GATEWAY_INFLIGHT, ROLE_EXECUTOR, ROLE_LABEL, ROLE_SELECTOR
from faasml.promtext import parse_samples
from faasml.runtime.replicas import free_port
from faasml.selector.views import listed_available, ready_executors

REPO = Path(__file__).resolve().parents[1]
DEFAULT_STACK = REPO / "stack.yml"
TEMPLATE = "faasml-python3-http"
SELECTOR = "selector"
LOG_NAME = "faasml-up.log"
NAMESPACE = "openfaas-fn"


class LaunchError(RuntimeError):
    """The platform did not start, did not get ready, or refused what was asked of it."""


# ---------------------------------------------------------------- generated stacks

def find_checkout(folder: Path | None = None) -> Path:
    """The checkout a benchmark runs from: the working directory, which must hold
    functions/ and templates/ (as when run from the repository root, like `make bench`)."""
    folder = (folder or Path.cwd()).resolve()
    if not ((folder / "functions/selector/handler.py").is_file() and (folder / "templates").is_dir()):
        raise FileNotFoundError(f"{folder} has no functions/ and templates/: run from the repository root")
    return folder


def executor_function(name: str, model_card: Path, task: str, node_class: str, accuracy: float,
                      latency_ms: float, handler: Path) -> dict[str, Any]:
    """A stack entry for one variant, with the `faasml.io/*` annotations the selector reads
    (docs/architecture.md); `handler` is usually the checkout's functions/executors."""
    return {
        "lang": TEMPLATE, "handler": str(handler),
        "image": f"faasml/local-{name}:0", "constraints": [f"faasml.io/node-class={node_class}"],
        "environment": {"FAASML_MODEL": str(model_card), "FAASML_PROVIDER": "cpu",
                        "FAASML_INTRA_OP_THREADS": "1", "ready_path": "/ready"},
        "labels": {ROLE_LABEL: ROLE_EXECUTOR},
        "annotations": {"faasml.io/task": task, "faasml.io/accuracy": str(accuracy),
                        "faasml.io/accuracy-source": "generated stack", "faasml.io/latency-ms": str(latency_ms),
                        "faasml.io/node-class": node_class},
    }


def selector_function(env: Mapping[str, str], handler: Path) -> dict[str, Any]:
    """The selector's stack entry; `handler` is usually the checkout's functions/selector."""
    return {"lang": TEMPLATE, "handler": str(handler), "image": "faasml/local-selector:0",
            "labels": {ROLE_LABEL: ROLE_SELECTOR}, "secrets": ["basic-auth"],  # reads /system/functions
            "environment": dict(env)}


def two_nodes(cloud_rtt_ms: float = 0.0) -> list[dict[str, Any]]:
    """An `edge` node on CPU 0 and a `cloud` node on the others, `cloud_rtt_ms` away."""
    return [{"name": "edge", "labels": {"faasml.io/node-class": "edge"}, "cpus": "0", "rtt_ms": 0},
            {"name": "cloud", "labels": {"faasml.io/node-class": "cloud"}, "cpus": "1-", "rtt_ms": cloud_rtt_ms}]


def write_stack(folder: Path, functions: Mapping[str, Any], nodes: list[dict[str, Any]] | None = None,
                ) -> tuple[Path, Path | None]:
    """`stack.yml` (and `nodes.yml`, given nodes) in `folder`; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    stack = folder / "stack.yml"
    stack.write_text(yaml.safe_dump({"version": 1.0, "provider": {"name": "openfaas"},
                                     "functions": dict(functions)}))
    if nodes is None:
        return stack, None
    (folder / "nodes.yml").write_text(yaml.safe_dump({"nodes": nodes}))
    return stack, folder / "nodes.yml"


# ---------------------------------------------------------------- what runs where

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

    def pids(self, function: str | None = None, node: str | None = None) -> list[int]:
        return [r.pid for r in self.replicas
                if (function is None or r.function == function) and (node is None or r.node == node)]

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


def topology_of(functions: list[dict], node_cpus: dict[str, int], gateway_pid: int | None = None,
                selector: str = SELECTOR) -> Topology:
    """What a `GET /system/functions` of `faasml up` says runs where. A replica that has
    exited is left out: it has no CPU or memory to read, and its pid may be reused."""
    variants, replicas, selector_nodes = {}, [], []
    for f in functions:
        states = (f.get("faasml") or {}).get("replicaStates") or []
        for s in states:
            if s.get("pid") and s.get("state") != "exited":
                replicas.append(Replica(f["name"], s.get("instance", ""), s.get("node", ""), int(s["pid"])))
        role = (f.get("labels") or {}).get(ROLE_LABEL)
        if role == ROLE_SELECTOR and f["name"] == selector:
            selector_nodes = sorted({s.get("node", "") for s in states})
        if role != ROLE_EXECUTOR or f.get("availableReplicas", 0) < 1 or not states:
            continue
        annotations = f.get("annotations") or {}
        node = states[0].get("node", "")
        rtt = float(((f.get("faasml") or {}).get("rttMs") or {}).get(node, 0.0))
        try:
            accuracy = float(annotations.get("faasml.io/accuracy", "nan"))
        except ValueError:
            accuracy = float("nan")
        variants[f["name"]] = VariantInfo(f["name"], annotations.get("faasml.io/task", ""), accuracy,
                                          node, rtt, len(states))
    node_cpus = dict(node_cpus)
    for node in {r.node for r in replicas} - set(node_cpus):
        node_cpus[node] = 1  # a node the nodes file does not name (a running gateway): assume 1 CPU
    return Topology(variants, node_cpus, replicas, gateway_pid=gateway_pid, selector_nodes=selector_nodes)


# ---------------------------------------------------------------- the platform

def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the harness dies, even by SIGKILL, so a
    platform never outlives its harness (its replicas die with it in turn)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class LocalPlatform:
    """`faasml up` of its own over `stack` (or, with `url`, a running gateway as it is).

    `folder`: this platform's own folder; `nodes`: a nodes file (default: faasml up's,
    edge/nodes.local.yml beside the stack); `only`: `--filter` names; `cwd`: where
    `faasml up` runs (templates/ are found beside the stack, else there); `env`, `args`:
    more environment and flags for it; `secrets`: OpenFaaS secrets (name -> value) in
    place before it starts; `selector_key`: the API key presented on the selector's
    routes, when its keys are on; `state_dir`: its state folder (default `folder/state`);
    `port`: the gateway's port (default: a free one, chosen when it starts);
    `stop_grace_s`: how long a clean stop may take (containers take longer than processes).
    """

    def __init__(self, folder: Path, stack: Path = DEFAULT_STACK, nodes: Path | None = None, *,
                 only: tuple[str, ...] | list[str] = (), cwd: Path = REPO,
                 env: Mapping[str, str] | None = None, args: tuple[str, ...] | list[str] = (),
                 password: str | None = None, secrets: Mapping[str, bytes] | None = None,
                 selector_key: str | None = None, state_dir: Path | None = None,
                 start_timeout_s: float = 120.0, url: str | None = None, selector: str = SELECTOR,
                 port: int | None = None, stop_grace_s: float = 15.0):
        self.folder = Path(folder)
        self.stack = Path(stack)
        self.nodes = Path(nodes) if nodes else None
        self.only = list(only)
        self.cwd = Path(cwd)
        self.env = dict(env or {})
        self.args = list(args)
        self.secrets = dict(secrets or {})
        self.state_dir = Path(state_dir) if state_dir else self.folder / "state"
        self.log_path = self.folder / LOG_NAME
        self.start_timeout_s = start_timeout_s
        self.stop_grace_s = stop_grace_s
        self.selector = selector
        self.external = url is not None
        self.url = url.rstrip("/") if url else ""
        self.port = (urlsplit(self.url).port or 0) if self.external else (port or 0)
        if port and not self.external:
            self.url = f"http://127.0.0.1:{port}"
        self.password = password
        self.process: subprocess.Popen | None = None
        self._log = None
        self.http = requests.Session()
        self.selector_headers = {"X-Api-Key": selector_key} if selector_key else {}

    @classmethod
    def generated(cls, folder: Path, functions: Mapping[str, Any], nodes: list[dict[str, Any]] | None = None,
                  **options: Any) -> "LocalPlatform":
        """Over a stack (and nodes file) generated into `folder` (`write_stack`)."""
        stack, nodes_file = write_stack(Path(folder), functions, nodes)
        return cls(folder, stack, nodes_file, **options)

    @property
    def nodes_file(self) -> Path | None:
        """The nodes file `faasml up` reads: the given one, else the stack's default."""
        if self.nodes:
            return self.nodes
        default = self.stack.parent / "edge" / "nodes.local.yml"
        return default if default.is_file() else None

    @property
    def admin(self) -> tuple[str, str]:
        return ("admin", self.password or "")

    # ------------------------------------------------------------ lifecycle
    def __enter__(self) -> "LocalPlatform":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(self) -> "LocalPlatform":
        if self.external or self.process is not None:
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.secrets:
            from faasml.runtime.secret_store import SecretStore

            store = SecretStore(self.state_dir, {})
            for name, value in self.secrets.items():
                store.create(None, name, value)
        self.port = self.port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.password = self.password or secrets.token_hex(12)
        command = [sys.executable, "-m", "faasml", "up", "-f", str(self.stack), "--port", str(self.port),
                   "--host", "127.0.0.1", "--state-dir", str(self.state_dir)]
        if self.nodes:
            command += ["--nodes", str(self.nodes)]
        for name in self.only:
            command += ["--filter", name]
        env = {**os.environ, **self.env, "FAASML_GATEWAY_PASSWORD": self.password, "PYTHONUNBUFFERED": "1"}
        # The harness's own package must be what the platform runs.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(command + self.args, cwd=str(self.cwd), env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        preexec_fn=_die_with_parent)
        return self

    def up(self, task: str | None = None, timeout_s: float | None = None) -> "LocalPlatform":
        """Started and ready (`wait_ready`), or stopped again and LaunchError raised."""
        self.start()
        try:
            self.wait_ready(task, timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            for sig, wait_s in ((signal.SIGINT, self.stop_grace_s), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
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

    @property
    def gateway_pid(self) -> int | None:
        return self.process.pid if self.process else None

    def log_text(self) -> str:
        if self._log:
            self._log.flush()
        return self.log_path.read_text(errors="replace") if self.log_path.is_file() else ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    # ------------------------------------------------------------ HTTP
    def get(self, path: str, auth: bool = False, timeout: float = 5.0) -> requests.Response:
        headers = self.selector_headers if path.startswith(f"/function/{self.selector}") else None
        return self.http.get(self.url + path, timeout=timeout, headers=headers,
                             auth=self.admin if auth and self.password else None)

    def system(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A `/system/*` (or any) call with the admin's basic auth."""
        kwargs.setdefault("auth", self.admin)
        kwargs.setdefault("timeout", 10)
        return self.http.request(method, self.url + path, **kwargs)

    def call(self, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None,
             timeout_s: float = 30.0) -> tuple[int, dict[str, str], bytes]:
        """A POST (with a body) or GET as urllib sends it, on a connection of its own (safe
        from any thread): (status, headers, body), whatever the status."""
        request = Request(self.url + path, data=body if body else None, headers=dict(headers or {}),
                          method="POST" if body else "GET")
        try:
            with urlopen(request, timeout=timeout_s) as response:
                return response.status, dict(response.headers), response.read()
        except HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def functions(self) -> list[dict]:
        response = self.get("/system/functions", auth=True)
        if response.status_code == 401:
            raise LaunchError("the gateway refused the admin password for /system/functions: set "
                              "FAASML_GATEWAY_PASSWORD (or run from the folder holding .faasml/)")
        response.raise_for_status()
        return response.json()

    def status(self, name: str) -> dict:
        response = self.get(f"/system/function/{name}", auth=True)
        response.raise_for_status()
        return response.json()

    def replica(self, name: str) -> dict[str, Any]:
        """The first replica `faasml up` reports for `name` (port, pid, node, state)."""
        return self.status(name)["faasml"]["replicaStates"][0]

    def scale(self, function: str, replicas: int) -> None:
        response = self.system("POST", f"/system/scale-function/{function}",
                               json={"serviceName": function, "replicas": replicas, "namespace": NAMESPACE})
        if response.status_code >= 300:
            raise LaunchError(f"scaling {function} to {replicas}: HTTP {response.status_code} {response.text[:200]}")

    # ------------------------------------------------------------ waiting
    def wait_for(self, check: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.1) -> float:
        """Poll `check` until true (errors reaching the platform count as not yet); the
        seconds it took. Raises LaunchError when `faasml up` exits or time runs out."""
        started = time.monotonic()
        last = ""
        while True:
            self._check_alive()
            try:
                if check():
                    return time.monotonic() - started
            except (requests.RequestException, OSError, ValueError, KeyError, IndexError) as exc:
                last = f" ({type(exc).__name__}: {exc})"
            if time.monotonic() - started > timeout_s:
                raise LaunchError(f"{what}: not after {timeout_s:g}s{last}\n{self.log_tail()}")
            time.sleep(every_s)

    def _check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise LaunchError(f"faasml up exited with code {self.process.returncode}:\n{self.log_tail()}")

    def wait_healthy(self, timeout_s: float = 30.0) -> float:
        """Until the gateway answers `/healthz` (its functions may still be starting)."""
        return self.wait_for(lambda: self.get("/healthz", timeout=1).status_code == 200, timeout_s,
                             "the gateway answering /healthz", every_s=0.05)

    def wait_ready(self, task: str | None = None, timeout_s: float | None = None) -> float:
        """Until `readiness(task)` says ready; the seconds it took."""
        timeout_s = self.start_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        started, last = time.monotonic(), "no answer yet"
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                last = self.readiness(task)
                if last == "":
                    return time.monotonic() - started
            except (requests.RequestException, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.25)
        raise LaunchError(f"platform not ready after {timeout_s:.0f}s ({last})\n{self.log_tail()}")

    def readiness(self, task: str | None = None) -> str:
        """What the platform is still waiting for ("" when ready): the gateway, a function's
        replicas (every schedulable one, all its replicas), the selector's readiness, an
        executor (of `task`, given one) ready at the gateway but not yet listed by the
        selector. Raises LaunchError when `task` has no ready executor at all."""
        if self.get("/healthz", timeout=2).status_code != 200:
            return "gateway not answering"
        functions = self.functions()
        if not functions:
            return "no function deployed yet"
        waiting = [f["name"] for f in functions if not (f.get("faasml") or {}).get("unschedulable")
                   and f.get("availableReplicas", 0) < max(1, f.get("replicas", 1))]
        if waiting:
            return f"replicas starting: {', '.join(waiting)}"
        if not any(f["name"] == self.selector for f in functions):
            if task is not None:
                raise LaunchError(f"no {self.selector} function deployed on {self.url}")
            return ""
        if self.get(f"/function/{self.selector}/ready", timeout=2).status_code != 200:
            return "selector not ready"
        expected = ready_executors(functions, task)
        if task is not None and not expected:
            raise LaunchError(f"no ready executor for task {task!r} on {self.url}")
        listed = self.get(f"/function/{self.selector}/variants")
        if listed.status_code != 200:
            return f"selector's /variants answered {listed.status_code}"
        missing = expected - listed_available(listed.json())
        return f"selector has not listed {sorted(missing)}" if missing else ""

    # ------------------------------------------------------------ what runs where
    def topology(self) -> Topology:
        return topology_of(self.functions(), node_cpu_counts(self.nodes_file), self.gateway_pid, self.selector)

    def policies(self) -> tuple[list[str], str]:
        listed = self.get(f"/function/{self.selector}/variants").json()
        return list(listed.get("policies", [])), str(listed.get("default_policy", ""))

    def restart_selector(self, task: str | None = None, timeout_s: float = 60.0) -> float:
        """Replace the selector's replica(s) with fresh ones (scale to 0, then back), so a
        run starts from the same selector state whatever ran before it; seconds it took."""
        started = time.monotonic()
        states = [f for f in self.functions() if f["name"] == self.selector]
        replicas = max(1, states[0].get("replicas", 1)) if states else 1
        self.scale(self.selector, 0)
        self.wait_for(lambda: not (self.status(self.selector).get("faasml") or {}).get("replicaStates"),
                      timeout_s, f"{self.selector} scaled to zero")
        self.scale(self.selector, replicas)
        self.wait_ready(task)
        return time.monotonic() - started

    def in_flight(self) -> float:
        """Requests in flight through the gateway (its gauge), to wait for a drain."""
        text = self.get("/metrics", timeout=2).text
        return sum(sample.value for sample in parse_samples(text, {GATEWAY_INFLIGHT}))

    def drain(self, timeout_s: float = 15.0, settle_s: float = 1.0) -> float:
        """Wait until nothing is in flight (or `timeout_s`), then `settle_s` more; what
        was still in flight."""
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

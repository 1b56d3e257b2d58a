"""`faasml bench coldstart`: the time from a request to a function at zero replicas to its
answer, per variant, against the same variant warm and a trivial function cold, side by
side in one run of `faasml up` on the repository's stack.

Per round and function: a few warm requests (the warm baseline), then scale to zero
(`/system/scale-function`), wait until no replica is left, and time one request: the
gateway scales the function from zero and holds the request until a replica is ready.
The replica's own "ready after" (process start, imports, model load, until its
`ready_path` answers 200) comes from the runtime's log. The trivial function's cold start
is the floor every function pays (a Python process, the template's imports); what a
variant adds on top of it is its model.
"""
from __future__ import annotations

import json
import re
import statistics
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from faasml.bench.executor import sample_photo
from faasml.launch import TEMPLATE, LocalPlatform

TRIVIAL = "bench-trivial"
TRIVIAL_HANDLER = 'def handle(event, context):\n    return {"statusCode": 200, "body": "ok"}\n'
_CONTENT_TYPES = {"image-classification": "image/jpeg", "sentence-embedding": "text/plain"}
_READY_AFTER = re.compile(r"replica (\S+) ready after ([0-9.]+)s")


@dataclass
class ColdStart:
    function: str
    warm_ms: list[float] = field(default_factory=list)
    cold_ms: list[float] = field(default_factory=list)
    ready_s: list[float] = field(default_factory=list)  # the replica's start until ready
    model_load_s: list[float] = field(default_factory=list)  # of which: the executor loading its model

    def row(self, floor_ms: float) -> str:
        warm, cold = statistics.median(self.warm_ms), statistics.median(self.cold_ms)
        ready = f"{statistics.median(self.ready_s) * 1000:.0f}" if self.ready_s else "—"
        load = f"{statistics.median(self.model_load_s) * 1000:.0f}" if self.model_load_s else "—"
        return (f"| {self.function} | {warm:.1f} | {cold:.0f} ({min(self.cold_ms):.0f}–{max(self.cold_ms):.0f}) "
                f"| {ready} | {load} | {cold / warm:.0f}x | {cold - floor_ms:+.0f} |")


class ColdStage:
    """`faasml up` over the repository's stack (its executors, CPU only) plus a trivial
    function, in `folder`: the checkout's templates/, functions/, models/ and edge/ are
    linked there, so the stack's relative paths resolve as in the checkout."""

    def __init__(self, checkout: Path, variants: list[str], folder: Path):
        stack = yaml.safe_load((checkout / "stack.yml").read_text())
        functions = {n: stack["functions"][n] for n in variants}
        (folder / TRIVIAL).mkdir()
        (folder / TRIVIAL / "handler.py").write_text(TRIVIAL_HANDLER)
        functions[TRIVIAL] = {"lang": TEMPLATE, "handler": f"./{TRIVIAL}", "image": "faasml/bench-trivial:local"}
        for shared in ("templates", "functions", "models", "edge"):
            (folder / shared).symlink_to(checkout / shared)
        (folder / "stack.yml").write_text(yaml.safe_dump({**stack, "functions": functions}))
        self.tasks = {n: (f.get("annotations") or {}).get("faasml.io/task", "") for n, f in functions.items()}
        # A cold request waits for its replica as long as the slowest model takes to load.
        self.platform = LocalPlatform(folder, folder / "stack.yml", cwd=folder,
                                      env={"FAASML_UP_SCALE_FROM_ZERO_WAIT_S": "300"})

    def invoke(self, name: str, body: bytes) -> float:
        """Milliseconds to a 200 answer."""
        started = time.perf_counter()
        content_type = _CONTENT_TYPES.get(self.tasks[name], "application/octet-stream")
        request = urllib.request.Request(f"{self.platform.url}/function/{name}", data=body,
                                         headers={"Content-Type": content_type})
        with urllib.request.urlopen(request, timeout=600) as response:
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{name} answered {response.status}")
        return (time.perf_counter() - started) * 1000.0

    def health(self, name: str) -> dict:
        with urllib.request.urlopen(f"{self.platform.url}/function/{name}/health", timeout=30) as response:
            return json.loads(response.read())

    def last_reported(self, name: str, pattern: re.Pattern) -> float | None:
        """The seconds in the function's latest log line matching `pattern` (last group)."""
        response = self.platform.system("GET", f"/system/logs?name={name}&tail=50", timeout=30)
        response.raise_for_status()
        lines = [json.loads(line)["text"] for line in response.content.splitlines() if line]
        found = [float(m.groups()[-1]) for m in map(pattern.search, lines) if m]
        return found[-1] if found else None


def _inputs() -> dict[str, bytes]:
    return {"image-classification": sample_photo(), "sentence-embedding": b"A cat sleeps in the sun.",
            "": b"ping"}


def measure(stage: ColdStage, name: str, body: bytes, rounds: int, warm_requests: int) -> ColdStart:
    result, platform = ColdStart(name), stage.platform
    for _ in range(rounds):
        platform.wait_for(lambda: platform.status(name)["availableReplicas"] >= 1, 300, f"{name} available")
        result.warm_ms += [stage.invoke(name, body) for _ in range(warm_requests)]
        platform.scale(name, 0)
        platform.wait_for(lambda: not platform.status(name)["faasml"]["replicaStates"], 300,
                          f"{name} at zero replicas")
        result.cold_ms.append(stage.invoke(name, body))
        ready_s = stage.last_reported(name, _READY_AFTER)
        if ready_s is not None:
            result.ready_s.append(ready_s)
        if name != TRIVIAL:  # the executor's own figure, from its /health
            result.model_load_s.append(stage.health(name)["load_s"])
    return result


def run_coldstart_bench(checkout: Path, variants: list[str] | None, rounds: int, warm_requests: int,
                        json_out: Path | None) -> int:
    stack = yaml.safe_load((checkout / "stack.yml").read_text())["functions"]
    variants = variants or [n for n, f in stack.items()
                            if (f.get("labels") or {}).get("faasml.io/role") == "executor"
                            and (f.get("annotations") or {}).get("faasml.io/node-class") != "gpu"]
    inputs = _inputs()
    with tempfile.TemporaryDirectory(prefix="faasml-coldstart-") as folder:
        stage = ColdStage(checkout, variants, Path(folder))
        with stage.platform:
            try:
                results = [measure(stage, name, inputs.get(stage.tasks[name], b"ping"), rounds, warm_requests)
                           for name in [TRIVIAL, *variants]]
            except (OSError, RuntimeError, urllib.error.URLError) as exc:
                print(f"faasml bench coldstart: {exc}\n{stage.platform.log_text()[-3000:]}")
                return 1
    floor = statistics.median(results[0].cold_ms)
    print(f"cold start: request to a function at zero replicas -> its answer; {rounds} round(s), "
          f"median (min–max); warm = median of {warm_requests} x {rounds} requests\n")
    print("| function | warm ms | cold ms | replica start → ready ms | model load ms | cold/warm "
          "| cold − trivial's cold ms |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for result in results:
        print(result.row(floor))
    if json_out:
        json_out.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0

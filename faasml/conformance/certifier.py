"""Run OpenFaaS's provider conformance suite (openfaas/certifier) against `faasml up`.

As faasd's CI runs it: a clean provider (`faasml up --containers podman --empty` on a free
loopback port, its own state folder), `faas-cli login` into a private OPENFAAS_CONFIG, then
`certifier.test -test.v -test.count=1 -enableAuth -gateway URL`. The suite deploys the
stand-in images (faasml.conformance.standins) by the names it knows them by.

One setting differs from `faasml up`'s defaults, as an OpenFaaS installation sets its own:
FAASML_AUTOSCALE_TARGET=5 (rps per replica for functions without a target label). The
suite's throughput test loads a function labelled only min 1 / max 2 with 10 requests per
second and expects 2 replicas within 60 s: it is sized for OpenFaaS CE's scaling alert
(over 5 rps), while faasml's default target is OpenFaaS Pro's (50 rps per replica).
Test_ScaleToZero runs only with `idler_enabled=true` in the environment (the suite's own
switch); docs/runtime.md says why it is left off.
"""
from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from faasml.conformance.standins import build_standins, why_not_buildable
from faasml.images.engine import Podman
from faasml.images.tools import FAAS_CLI, find_tool, missing_reason
from faasml.launch import LocalPlatform
from faasml.runtime.containers import LABEL

CERTIFIER = ("CERTIFIER", "certifier.test")
# The installation settings of the conformance run (see the module's docstring).
PROVIDER_SETTINGS = {"FAASML_AUTOSCALE_TARGET": "5"}
SUITE_TIMEOUT_S = 1200
_RESULT = re.compile(r"^--- (PASS|FAIL|SKIP): (\S+) \(([\d.]+)s\)")
_SKIP_REASON = re.compile(r"^\s+\S+_test\.go:\d+: (.*)$")


@dataclass
class SuiteResult:
    """The suite's verdict per top-level test, from `go test -v` output."""

    returncode: int
    output: str
    results: dict[str, str] = field(default_factory=dict)    # test -> PASS / FAIL / SKIP
    seconds: dict[str, float] = field(default_factory=dict)
    skip_reasons: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.returncode == 0 and "FAIL" not in self.results.values() and bool(self.results)

    def summary(self) -> str:
        counts = {v: list(self.results.values()).count(v) for v in ("PASS", "FAIL", "SKIP")}
        lines = [f"{test:36} {verdict:5} {self.seconds[test]:7.2f}s"
                 + (f"  ({self.skip_reasons[test]})" if test in self.skip_reasons else "")
                 for test, verdict in self.results.items()]
        lines.append(f"certifier: {counts['PASS']} passed, {counts['FAIL']} failed, "
                     f"{counts['SKIP']} skipped (exit {self.returncode})")
        return "\n".join(lines)


def parse_suite_output(output: str, returncode: int) -> SuiteResult:
    result = SuiteResult(returncode, output)
    last_log: str | None = None
    for line in output.splitlines():
        logged = _SKIP_REASON.match(line)
        if logged:
            last_log = logged.group(1)
        found = _RESULT.match(line)
        if found:
            verdict, test, seconds = found.groups()
            result.results[test] = verdict
            result.seconds[test] = float(seconds)
            if verdict == "SKIP" and last_log:
                result.skip_reasons[test] = last_log
        if line.startswith("=== RUN"):
            last_log = None
    return result


def why_not_runnable() -> str | None:
    """What is missing here to run the suite against `faasml up`, or None."""
    if find_tool(CERTIFIER) is None:
        return missing_reason(CERTIFIER)
    if find_tool(FAAS_CLI) is None:
        return missing_reason(FAAS_CLI)
    return why_not_buildable()


class ConformanceProvider:
    """`faasml up --containers podman --empty` on a free port (faasml/launch.py's platform,
    in `folder`), and the stock faas-cli logged in to it in a config of its own."""

    def __init__(self, folder: Path, settings: dict[str, str] | None = None, args: tuple[str, ...] = ()):
        self.folder = folder.resolve()
        # No stack file there: `--empty` starts without one.
        self.platform = LocalPlatform(self.folder, stack=self.folder / "stack.yml", cwd=self.folder,
                                      env=PROVIDER_SETTINGS if settings is None else settings,
                                      args=("--empty", "--containers", "podman", *args), stop_grace_s=60.0)
        self.config_dir = self.folder / "openfaas"  # faas-cli's login, for the suite only

    @property
    def url(self) -> str:
        return self.platform.url

    @property
    def password(self) -> str:
        return self.platform.password or ""

    def start(self, timeout_s: float = 60.0) -> None:
        self.platform.start()
        try:
            self.platform.wait_healthy(timeout_s)
            self.faas_cli("login", "-g", self.url, "-u", "admin", "--password-stdin", stdin=self.password)
        except BaseException:
            self.platform.stop()
            raise

    def stop(self) -> None:
        self.platform.stop()

    def client_env(self) -> dict[str, str]:
        return dict(os.environ, OPENFAAS_CONFIG=str(self.config_dir), OPENFAAS_URL=self.url,
                    gateway_url=self.url)

    def faas_cli(self, *args: str, stdin: str | None = None, check: bool = True,
                 timeout: float = 120) -> subprocess.CompletedProcess:
        # In the provider's own folder: faas-cli reads a stack.yml in its working folder first.
        done = subprocess.run([find_tool(FAAS_CLI), *args], input=stdin, capture_output=True, text=True,
                              env=self.client_env(), timeout=timeout, cwd=self.folder)
        if check and done.returncode != 0:
            raise RuntimeError(f"faas-cli {' '.join(args[:2])}: {done.stdout}{done.stderr}")
        return done

    def log_text(self) -> str:
        return self.platform.log_text()

    def containers(self) -> list[str]:
        """Containers this provider started that still exist."""
        state = self.platform.state_dir.resolve()
        listed = Podman(self.folder / "podman").run("ps", "-a", "-q", "--filter", f"label={LABEL}={state}",
                                                    check=False)
        return listed.stdout.decode().split()


def run_suite(provider: ConformanceProvider, run: str | None = None, extra_env: dict[str, str] | None = None,
              timeout_s: float = SUITE_TIMEOUT_S, echo: Callable[[str], None] | None = None) -> SuiteResult:
    """`certifier.test -test.v -test.count=1 -enableAuth -gateway URL` (with `-test.run`); its
    output is also written to certifier.log in the provider's folder."""
    command = [find_tool(CERTIFIER), "-test.v", "-test.count=1", "-enableAuth", "-gateway", provider.url]
    if run:
        command += ["-test.run", run]
    process = subprocess.Popen(command, env={**provider.client_env(), **(extra_env or {})},
                               cwd=provider.folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    assert process.stdout is not None
    transcript = open(provider.folder / "certifier.log", "w")
    for line in process.stdout:
        lines.append(line)
        transcript.write(line)
        transcript.flush()
        if echo:
            echo(line.rstrip("\n"))
        if time.monotonic() > deadline:
            process.kill()
            lines.append(f"faasml conformance: the suite ran over {timeout_s:g}s and was stopped\n")
            break
    returncode = process.wait()
    transcript.close()
    return parse_suite_output("".join(lines), returncode)


def run_conformance(work_dir: Path, run: str | None = None, extra_env: dict[str, str] | None = None,
                    log: Callable[[str], None] = print, echo: Callable[[str], None] | None = None
                    ) -> tuple[SuiteResult, list[str]]:
    """Build the stand-ins, start a clean provider, run the suite, stop the provider.
    Returns the suite's result and the containers the provider left behind (none, or a bug)."""
    missing = why_not_runnable()
    if missing:
        raise RuntimeError(missing)
    build_standins(Podman(work_dir / "podman"), log=log)
    provider = ConformanceProvider(work_dir)
    provider.start()
    log(f"faasml up --containers podman --empty on {provider.url} (log: {work_dir / 'faasml-up.log'}); "
        f"running {find_tool(CERTIFIER)}")
    try:
        result = run_suite(provider, run, extra_env, echo=echo)
    finally:
        provider.stop()
    return result, provider.containers()

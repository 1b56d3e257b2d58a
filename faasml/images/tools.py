"""The stock OpenFaaS programs a user runs: found on the PATH or named by a variable."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

FAAS_CLI = ("FAAS_CLI", "faas-cli")
OF_WATCHDOG = ("OF_WATCHDOG", "fwatchdog")
# of-watchdog for another architecture than this machine's, as upstream's Makefile names
# its release binaries (fwatchdog-arm64, ...).
OF_WATCHDOG_FOR = {"arm64": ("OF_WATCHDOG_ARM64", "fwatchdog-arm64"),
                   "amd64": ("OF_WATCHDOG_AMD64", "fwatchdog-amd64")}


def watchdog_tool(arch: str, host: str) -> tuple[str, str]:
    """The of-watchdog to put in an `arch` image: the plain `fwatchdog` for the host's own."""
    return OF_WATCHDOG if arch == host else OF_WATCHDOG_FOR[arch]


def find_tool(tool: tuple[str, str]) -> str | None:
    """`$VAR` when it names a file, else the program on the PATH, else None."""
    variable, program = tool
    named = os.environ.get(variable, "").strip()
    if named:
        return named if Path(named).is_file() else None
    return shutil.which(program)


# Where each comes from on a user's machine (the stock binaries, as OpenFaaS ships them).
INSTALL = {
    "faas-cli": "install it with `curl -sSL https://cli.openfaas.com | sudo -E sh` (or brew install faas-cli, "
                "arkade get faas-cli)",
    "fwatchdog": "it is of-watchdog's release binary (github.com/openfaas/of-watchdog/releases: fwatchdog-amd64)",
    "fwatchdog-arm64": "it is of-watchdog's arm64 release binary (github.com/openfaas/of-watchdog/releases)",
}


def missing_reason(tool: tuple[str, str]) -> str:
    variable, program = tool
    hint = f"; {INSTALL[program]}" if program in INSTALL else ""
    return f"{program} not found: put it on the PATH or name it in ${variable}{hint}"


def watchdog_version(binary: str) -> str:
    """of-watchdog prints `Version: 0.11.6 SHA: ...` for -version."""
    out = subprocess.run([binary, "-version"], capture_output=True, text=True, timeout=10)
    found = re.search(r"Version:\s*(\S+)", out.stdout + out.stderr)
    if not found:
        raise RuntimeError(f"{binary} -version printed no version")
    return found.group(1)

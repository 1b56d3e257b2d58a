"""A function started with a bad setting stops at once with one line naming it, instead of
failing every request (the selector) or crash-looping with a traceback (the executor)."""
from __future__ import annotations

import pytest

from .process import start_function


def exit_line(tmp_path, env: dict[str, str], handler: str) -> tuple[int, str]:
    process, _ = start_function(tmp_path, env, handler)
    output, _ = process.communicate(timeout=60)
    return process.returncode, output.decode()


@pytest.mark.parametrize("env, line", [
    ({"FAASML_MAX_ATTEMPTS": "many"}, "faasml selector: FAASML_MAX_ATTEMPTS='many': not a whole number"),
    ({"FAASML_POLICY": "best"}, "faasml selector: FAASML_POLICY='best': must be one of tradeoff, "),
    ({"FAASML_GATEWAYS": "gateway:8080"}, "faasml selector: FAASML_GATEWAYS='gateway:8080': "),
])
def test_selector_stops_on_a_bad_setting(tmp_path, env, line):
    code, output = exit_line(tmp_path, env, "functions/selector")
    assert code == 2 and output.startswith(line) and output.count("\n") == 1, output


@pytest.mark.parametrize("env, line", [
    ({"FAASML_MODEL": "models/nope.card.json"}, "faasml executor: FAASML_MODEL='models/nope.card.json': no such file"),
    ({"FAASML_PROVIDER": "tpu"}, "faasml executor: FAASML_PROVIDER='tpu': must be one of cpu, cuda"),
    ({"FAASML_MAX_BODY_BYTES": "20MB"}, "faasml executor: FAASML_MAX_BODY_BYTES='20MB': not a whole number"),
])
def test_executor_stops_on_a_bad_setting(tmp_path, tiny_models, env, line):
    code, output = exit_line(tmp_path, {"FAASML_MODEL": str(tiny_models["image"]), **env}, "functions/executors")
    assert code == 2 and output.startswith(line) and output.count("\n") == 1, output


def test_template_stops_on_a_bad_server_setting(tmp_path, tiny_models):
    code, output = exit_line(tmp_path, {"FAASML_MODEL": str(tiny_models["image"]), "FAASML_SERVER_THREADS": "lots"},
                             "functions/executors")
    assert code == 2 and output == "index.py: FAASML_SERVER_THREADS='lots': not a whole number\n"

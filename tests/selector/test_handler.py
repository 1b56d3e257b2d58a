"""The OpenFaaS handler is a thin shim: an event in, the service's answer out."""
from __future__ import annotations

import asyncio
import importlib.util
import inspect
import json
from pathlib import Path
from types import SimpleNamespace

from .conftest import TASK
from .toygateway import PASSWORD

HANDLER = Path(__file__).resolve().parents[2] / "functions/selector/handler.py"


def load_handler():
    spec = importlib.util.spec_from_file_location("selector_handler_under_test", HANDLER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_handler_serves_a_selection_from_the_environment(gateway, monkeypatch, tmp_path):
    monkeypatch.setenv("FAASML_GATEWAYS", f"local={gateway.url}")
    monkeypatch.setenv("FAASML_GATEWAY_PASSWORD", PASSWORD)
    monkeypatch.setenv("FAASML_PROFILES", str(tmp_path / "none.json"))
    monkeypatch.setenv("FAASML_EXPLORE_S", "0")   # the toy variants are known by annotations only
    handler = load_handler()
    # A coroutine: the template serves it on its event loop (index.py's asyncio server).
    assert inspect.iscoroutinefunction(handler.handle)
    event = SimpleNamespace(body=b"img", headers={"Content-Type": "image/jpeg"}, method="POST",
                            query={"task": TASK, "tradeoff": "0"}, path="/")

    async def both():
        try:
            good = await handler.handle(event, SimpleNamespace(hostname="test"))
            bad = await handler.handle(SimpleNamespace(body=b"", headers={}, method="POST", query={"tradeoff": "7"},
                                                       path="/"), None)
            return good, bad
        finally:
            await handler._service.stop()

    result, bad = asyncio.run(both())
    assert result["statusCode"] == 200
    assert result["headers"]["X-Faasml-Variant"] == "quick"
    assert json.loads(result["body"])["variant"] == "quick"
    assert bad["statusCode"] == 400 and json.loads(bad["body"])["error"]["code"] == "bad_parameter"

"""Two answers the selector gives to bad input.

They drive the selector through its OpenFaaS handler (functions/selector/handler.py: an
event in, the response dict out) against the toy gateway, so they hold the contract
whatever the selector's inside looks like.

1. An empty body for a prediction is refused by the selector itself: 400 with a JSON
   error whose code is `empty_body`, before any variant is called (forwarding an
   empty body would cost a decision, a slot and a hop for the variant to refuse it).
2. A refused body carries no `X-Faasml-Variant`: when the chosen variant answers 4xx
   (it could not read the input), the selector's 4xx says which variant refused it in the
   JSON error's `variant` field and in `X-Faasml-Refused-By`, but not in `X-Faasml-Variant`, which clients (and
   faasml.client's Prediction) read as "this variant answered".
"""
from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from .conftest import TASK
from .toygateway import PASSWORD

HANDLER = Path(__file__).resolve().parents[2] / "functions/selector/handler.py"


@pytest.fixture
def selector(gateway, monkeypatch, tmp_path):
    """The selector's handler module over the toy gateway; `call(body)` -> response dict."""
    monkeypatch.setenv("FAASML_GATEWAYS", f"local={gateway.url}")
    monkeypatch.setenv("FAASML_GATEWAY_PASSWORD", PASSWORD)
    monkeypatch.setenv("FAASML_PROFILES", str(tmp_path / "none.json"))
    spec = importlib.util.spec_from_file_location("selector_handler_bad_input", HANDLER)
    handler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(handler)
    if hasattr(handler, "start"):
        handler.start()

    loop = asyncio.new_event_loop()    # one loop for every call, as the template serves it

    def call(body: bytes, **query: str) -> dict:
        event = SimpleNamespace(body=body, headers={"Content-Type": "image/jpeg"}, method="POST",
                                query={"task": TASK, **query}, path="/")
        result = handler.handle(event, SimpleNamespace(hostname="test"))
        return loop.run_until_complete(result) if asyncio.iscoroutine(result) else result

    yield call
    service = getattr(handler, "_service", None)
    if service is not None:
        stopped = service.stop()
        if asyncio.iscoroutine(stopped):
            loop.run_until_complete(stopped)
    loop.close()


def _headers(response: dict) -> dict:
    return {k.lower(): v for k, v in (response.get("headers") or {}).items()}


def test_an_empty_body_is_refused_by_the_selector_before_any_variant_is_called(selector, gateway):
    assert selector(b"img", tradeoff="0")["statusCode"] == 200       # the path works
    calls_before = len(gateway.calls)
    response = selector(b"", tradeoff="0")
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["code"] == "empty_body"
    assert "x-faasml-variant" not in _headers(response)
    assert len(gateway.calls) == calls_before, "a variant was called with the empty body"


def test_a_body_the_variant_refuses_carries_no_variant_header(selector, gateway):
    gateway.behaviours = {name: "status:400" for name in gateway.behaviours}
    response = selector(b"not an image", tradeoff="0")
    assert response["statusCode"] == 400
    assert "x-faasml-variant" not in _headers(response)
    assert _headers(response)["x-faasml-refused-by"] == json.loads(response["body"])["error"]["variant"]
    error = json.loads(response["body"])["error"]
    assert error.get("variant") in {"quick", "middle", "precise"}, error

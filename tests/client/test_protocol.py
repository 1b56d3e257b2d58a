"""The client's offline parts: error mapping from any body, Retry-After forms, encoding."""
from __future__ import annotations

import email.utils
import json
import random
import time
from pathlib import Path

from faasml.client import (ApiError, BadRequest, DeadlineExceeded, Infeasible, NoRoom, Saturated,
                           ServerError, Unavailable)
from faasml.client.errors import error_from_response, retry_after_s
from faasml.client.protocol import RetryPolicy, encode_input, selection_query


def error_body(code: str, **details) -> bytes:
    return json.dumps({"error": {"code": code, "message": "m", **details}}).encode()


def test_codes_win_over_statuses_and_unknown_codes_fall_back_to_the_status():
    assert type(error_from_response(429, {}, error_body("no_room", retry_after_s=2))) is NoRoom
    assert type(error_from_response(422, {}, error_body("infeasible"))) is Infeasible
    assert type(error_from_response(400, {}, error_body("something_new"))) is BadRequest
    assert type(error_from_response(599, {}, error_body("something_new"))) is ServerError
    assert type(error_from_response(418, {}, error_body("teapot"))) is ApiError


def test_a_plain_text_error_keeps_its_text_and_status_class():
    # of-watchdog's own 429 and a stock gateway's 502/504 are plain text.
    error = error_from_response(429, {"Retry-After": "1"}, b"Concurrent request limit exceeded.")
    assert isinstance(error, Saturated) and error.retry_after == 1
    assert error.message == "Concurrent request limit exceeded." and error.code == "http_429"
    assert isinstance(error_from_response(504, {}, b""), DeadlineExceeded)


def test_retry_after_as_seconds_date_or_detail():
    assert retry_after_s({"retry-after": "3"}) == 3
    soon = email.utils.formatdate(time.time() + 5, usegmt=True)
    assert 3 <= retry_after_s({"Retry-After": soon}) <= 5
    assert retry_after_s({}, {"retry_after_s": 2}) == 2
    assert retry_after_s({"Retry-After": "soon"}) is None


def test_retry_policy_retries_only_not_now_answers_within_budget():
    policy, rng = RetryPolicy(retries=2, max_wait_s=3), random.Random(1)
    busy = error_from_response(429, {"Retry-After": "2"}, error_body("saturated"))
    assert policy.wait_s(busy, 0, 0.0, rng) == 2
    assert policy.wait_s(busy, 1, 2.0, rng) is None            # 2 + 2 > 3 s budget
    assert policy.wait_s(busy, 2, 0.0, rng) is None            # out of retries
    down = error_from_response(503, {}, error_body("no_healthy_variant"))
    assert isinstance(down, Unavailable) and 0.05 <= policy.wait_s(down, 0, 0.0, rng) <= 0.15
    never = error_from_response(422, {}, error_body("infeasible"))
    assert policy.wait_s(never, 0, 0.0, rng) is None
    assert RetryPolicy().wait_s(busy, 0, 0.0, rng) is None     # opt-in: no retries by default


def test_inputs_are_encoded_by_kind(tmp_path: Path):
    assert encode_input("héllo") == ("héllo".encode(), "text/plain; charset=utf-8")
    assert encode_input(["a", "b"]) == (b'["a", "b"]', "application/json")
    assert encode_input(b"\x89PNG\r\n\x1a\nxx")[1] == "image/png"
    (tmp_path / "x.jpg").write_bytes(b"\xff\xd8\xff\xe0rest")
    assert encode_input(tmp_path / "x.jpg")[1] == "image/jpeg"
    assert encode_input(b"raw", "application/x-custom")[1] == "application/x-custom"
    assert selection_query("t", tradeoff=0.5, params={"top_k": 3}) == "task=t&tradeoff=0.5&top_k=3"


def test_the_selector_key_goes_to_the_selectors_routes_only(monkeypatch):
    from faasml.client import Client

    monkeypatch.delenv("FAASML_API_KEY", raising=False)
    client = Client("http://127.0.0.1:1", password="pw", api_key="k1")
    assert client._headers_for("/function/selector?task=t&explain=1", False) == {"X-Api-Key": "k1"}
    assert client._headers_for("/function/selector/variants", False) == {"X-Api-Key": "k1"}
    assert client._headers_for("/function/selector-b/variants", False) == {}   # another function
    assert client._headers_for("/function/tiny-edge", False) == {}
    assert set(client._headers_for("/system/functions", True)) == {"Authorization"}
    assert client._prediction("t", b"x", "text/plain")[2] == {"Content-Type": "text/plain", "X-Api-Key": "k1"}
    monkeypatch.setenv("FAASML_API_KEY", "from-env")
    assert Client("http://127.0.0.1:1")._headers_for("/function/selector", False) == {"X-Api-Key": "from-env"}
    assert Client("http://127.0.0.1:1", api_key="")._headers_for("/function/selector", False) == {}

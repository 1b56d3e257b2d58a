"""Bad input at volume (hypothesis): whatever a client puts in the selector's parameters,
headers, path, method and body ends in a success or a JSON 4xx, never a 5xx of its own.

`make test` runs a few dozen examples per property; `make fuzz` thousands (tests/fuzzing.py).
"""
from __future__ import annotations

import json
import string

from hypothesis import given, strategies as st

from faasml.http import Headers, Request
from faasml.selector.forwarding import SELECTION_PARAMS

from .conftest import TASK

# Values a careless or hostile client sends: numbers of every shape, URLs, paths, names.
HOSTILE = st.sampled_from([
    "", " ", "0", "1", "-1", "0.5", "1e309", "-0", "nan", "NaN", "inf", "-inf", "1_000", "0x10",
    "http://169.254.169.254/latest/meta-data", "../../etc/passwd", "/etc/passwd", "quick/../precise",
    "quick.openfaas-fn", "selector", "broken", "quick", "precise", "embed", TASK, "sentence-embedding",
    "tradeoff", "random", "slo-greedy", "%00", "\u202e", "a" * 5000, "1" * 400, "true", "yes", "off",
])
VALUES = st.one_of(HOSTILE, st.text(max_size=40), st.floats(allow_nan=True).map(repr),
                   st.integers().map(str))
# What an HTTP/1.1 header can carry (RFC 9110 field-value: visible, space, tab, obs-text).
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
                      max_size=60).map(str.strip)
HEADER_NAMES = st.one_of(
    st.sampled_from(["X-Faasml-Task", "X-Faasml-Tradeoff", "X-Faasml-Max-Latency-Ms", "X-Faasml-Min-Accuracy",
                     "X-Faasml-Variant", "X-Faasml-Explain", "X-Faasml-Policy", "Content-Type",
                     "Content-Length", "Transfer-Encoding", "Connection", "X-Start-Time", "Host",
                     "Authorization", "Expect"]),
    st.text(string.ascii_letters + string.digits + "-", min_size=1, max_size=20))
PARAM_NAMES = st.one_of(st.sampled_from(sorted(SELECTION_PARAMS)), st.text(max_size=12))


def _checked(response) -> None:
    """A success, a JSON 4xx, or the one 5xx a client's own deadline can cause."""
    if 200 <= response.status < 300:
        return
    payload = json.loads(response.body)
    code = payload["error"]["code"]
    assert isinstance(code, str) and isinstance(payload["error"]["message"], str)
    if response.status >= 500:
        # A deadline the client set too tight for the hop is its answer, not our fault.
        assert (response.status, code) == (504, "deadline_exceeded"), payload
    assert 400 <= response.status < 600


@given(query=st.dictionaries(PARAM_NAMES, VALUES, max_size=6),
       headers=st.dictionaries(HEADER_NAMES, HEADER_TEXT, max_size=5),
       method=st.sampled_from(["POST", "POST", "GET", "PUT", "DELETE", "PATCH", "HEAD"]),
       path=st.one_of(st.sampled_from(["/", "", "/variants", "/metrics", "/ready", "//", "/../x"]),
                      st.text(max_size=20)),
       body=st.binary(max_size=512))
def test_any_request_ends_in_success_or_a_json_4xx(service, query, headers, method, path, body):
    _checked(service.handle(Request(method, path, query, Headers(headers), body)))


@given(tradeoff=st.floats(allow_nan=True, allow_infinity=True),
       max_latency_ms=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
       min_accuracy=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
       task=st.sampled_from([TASK, "sentence-embedding", "nope"]), explain=st.booleans())
def test_any_number_in_the_selection_parameters(service, tradeoff, max_latency_ms, min_accuracy, task, explain):
    query = {"task": task, "tradeoff": repr(tradeoff), "explain": "1" if explain else "0"}
    if max_latency_ms is not None:
        query["max_latency_ms"] = repr(max_latency_ms)
    if min_accuracy is not None:
        query["min_accuracy"] = repr(min_accuracy)
    response = service.handle(Request("POST", "/", query, Headers(), b"img"))
    _checked(response)
    if response.status == 200 and not explain:
        assert response.headers["X-Faasml-Variant"] in {"quick", "middle", "precise", "embed"}

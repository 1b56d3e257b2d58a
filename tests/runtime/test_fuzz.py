"""Bad input at volume (hypothesis) against a real `faasml up`: any body, method, path and
query on `/system/*`, and any credentials, end in a success or a JSON 4xx; the runtime
neither crashes nor grows with what it was sent.

`make test` runs a few dozen examples per property; `make fuzz` thousands (tests/fuzzing.py).
"""
from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest
from hypothesis import given, strategies as st

from tests.runtime.conftest import function

# A name no generated input will hit: every operation the fuzzer sends is on a function
# that does not exist, so it explores the parsing and the answers, never scales replicas.
TARGET = "fuzz-target-untouched"
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers()
                           | st.text(max_size=30), lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=5), max_leaves=15)
FIELDS = st.sampled_from(["service", "image", "namespace", "envVars", "labels", "annotations", "constraints",
                          "secrets", "limits", "requests", "functionName", "replicas", "serviceName"])
DOCUMENTS = st.one_of(JSON_VALUES, st.dictionaries(FIELDS, JSON_VALUES, max_size=6))
BODIES = st.one_of(DOCUMENTS.map(lambda d: json.dumps(d).encode()), st.binary(max_size=300))
PATHS = st.one_of(
    st.sampled_from(["/system/functions", "/system/info", "/system/namespaces", "/system/logs"]),
    st.text(max_size=30).map(lambda name: "/system/function/" + quote(name, safe="")),
    st.text(max_size=30).map(lambda name: "/system/scale-function/" + quote(name, safe="")))
QUERIES = st.dictionaries(st.sampled_from(["namespace", "name", "since", "tail", "follow", "instance", "usage"]),
                          st.text(max_size=30), max_size=4)


@pytest.fixture(scope="module")
def runtime(start_runtime):
    runtime = start_runtime({TARGET: function("toy", "faasml/fuzz-target:dev")}, extra_args=["--max-body-mb", "1"])
    runtime.wait_available(TARGET, 1)
    return runtime


def resident_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as handle:
        return int(handle.read().split()[1]) * 4096


def _checked(response) -> None:
    if response.status_code < 300:
        return
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert isinstance(response.json()["error"]["code"], str)


@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]), path=PATHS, query=QUERIES, body=BODIES)
def test_system_api_answers_anything_with_success_or_json_4xx(runtime, method, path, query, body):
    query = {k: v for k, v in query.items() if k != "follow"}   # a follow stream never ends
    _checked(runtime.system(method, path, params=query, data=body))


@given(authorization=st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60).map(str.strip),
    st.tuples(st.text(max_size=12), st.text(max_size=20)).map(
        lambda up: "Basic " + base64.b64encode(f"{up[0]}:{up[1]}".encode()).decode())))
def test_no_credentials_but_the_right_ones_reach_system(runtime, authorization):
    response = runtime.http.get(runtime.url + "/system/functions", headers={"Authorization": authorization},
                                timeout=10)
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("method,path", [("GET", "/system/function/%0A%7B"), ("GET", "/%0A"),
                                         ("POST", "/system/%0D%0Afunctions"), ("GET", "/system/function/a%0Ab")])
def test_paths_the_router_cannot_match_get_json_404s(runtime, method, path):
    # Found by the fuzzer: a newline in a path fell past the JSON catch-all to aiohttp's text 404.
    response = runtime.system(method, path)
    assert response.status_code == 404 and response.json()["error"]["code"]


def test_a_function_subpath_may_hold_any_escaped_byte(runtime):
    # Passed on to the function as received (what the function makes of it is its own
    # answer: the proxy's timing header says the gateway forwarded it).
    assert runtime.invoke(f"{TARGET}/a%20b", method="GET").json()["path"] == "/a b"
    assert "X-Duration-Seconds" in runtime.invoke(f"{TARGET}/a%0Ab", method="GET").headers


def test_a_system_body_over_the_limit_is_a_json_413(runtime):
    response = runtime.system("POST", "/system/functions", data=b"{" + b" " * (2 << 20) + b"}")
    assert response.status_code == 413 and response.json()["error"]["code"]


def test_the_runtime_survives_and_does_not_grow_with_the_fuzzing(runtime):
    """After the properties above (same module, same process): alive, serving, and its
    resident memory within a margin of what a few hundred requests may cache."""
    before = resident_bytes(runtime.process.pid)
    for i in range(300):
        runtime.system("POST", "/system/functions", data=b'{"service": "x", "image": 1}' + bytes([i % 256]))
        runtime.system("POST", f"/system/scale-function/nope-{i}", data=b'{"replicas": -1}')
    assert runtime.http.get(runtime.url + "/healthz", timeout=5).status_code == 200
    assert runtime.invoke(TARGET).status_code == 200
    assert resident_bytes(runtime.process.pid) - before < 20 * (1 << 20)

"""The HTTP edge (faasml/http.py): headers, the template's event in and out, body limits."""
from __future__ import annotations

import json
from types import SimpleNamespace

from faasml.errors import TooManyRequests
from faasml.http import Headers, Response, end_to_end, handle_event


def test_headers_ignore_case_and_keep_names_as_written():
    headers = Headers([("Content-Type", "image/png"), ("x-faasml-task", "t")])
    headers["X-FAASML-TASK"] = "u"
    assert headers["content-type"] == "image/png" and headers.get("X-Faasml-Task") == "u"
    assert "CONTENT-TYPE" in headers and len(headers) == 2
    assert dict(headers.items()) == {"Content-Type": "image/png", "X-FAASML-TASK": "u"}
    assert Response(200, b"", {"content-type": "a"}).headers["Content-Type"] == "a"


def test_end_to_end_drops_hop_by_hop_and_a_prefix_keeping_repeats():
    pairs = [("Host", "h"), ("Connection", "close"), ("Set-Cookie", "a"), ("Set-Cookie", "b"),
             ("X-Faasml-Task", "t"), ("Accept", "*/*")]
    assert end_to_end(pairs, drop_prefix="x-faasml-") == [("Set-Cookie", "a"), ("Set-Cookie", "b"),
                                                         ("Accept", "*/*")]


def test_errors_are_json_with_their_status_and_headers():
    response = Response.error(TooManyRequests("busy", headers={"Retry-After": "2"}))
    assert response.status == 429 and response.headers["retry-after"] == "2"
    assert json.loads(response.body) == {"error": {"code": "too_many_requests", "message": "busy"}}


class Event:
    """The template's event: the body is read on first access, as index.py reads it."""

    def __init__(self, body: bytes, headers: dict[str, str]):
        self._body, self.headers, self.reads = body, headers, 0
        self.method, self.query, self.path = "POST", {}, "/"

    @property
    def body(self) -> bytes:
        self.reads += 1
        return self._body


def echo(request):
    return Response(200, request.body, {"X-Size": str(len(request.body))})


def test_a_body_over_the_limit_is_refused_before_it_is_read():
    declared = Event(b"x" * 11, {"Content-Length": "11"})
    answer = handle_event(declared, echo, max_body_bytes=10)
    assert answer["statusCode"] == 413 and declared.reads == 0
    assert json.loads(answer["body"])["error"]["code"] == "payload_too_large"
    chunked = Event(b"x" * 11, {"Transfer-Encoding": "chunked"})   # no length to judge by
    assert handle_event(chunked, echo, max_body_bytes=10)["statusCode"] == 413
    fits = handle_event(Event(b"x" * 10, {"Content-Length": "10"}), echo, max_body_bytes=10)
    assert fits["statusCode"] == 200 and fits["headers"] == {"X-Size": "10"}


def test_no_limit_reads_any_body():
    event = SimpleNamespace(body="text", headers=None, method="post", query=None, path=None)
    assert handle_event(event, echo)["body"] == b"text"


def test_repeated_headers_survive_a_relay_and_connection_named_headers_do_not():
    upstream = [("Set-Cookie", "a=1"), ("Vary", "Accept"), ("Set-Cookie", "b=2"), ("Link", "</x>"),
                ("Connection", "keep-alive, X-Hop-Secret"), ("connection", "X-Other"), ("X-Hop-Secret", "s"),
                ("x-other", "o"), ("Keep-Alive", "timeout=5"), ("X-Kept", "k")]
    relayed = Headers.end_to_end(upstream)
    assert relayed.getall("set-cookie") == ["a=1", "b=2"]
    assert list(relayed.items()) == [("Set-Cookie", "a=1"), ("Vary", "Accept"), ("Set-Cookie", "b=2"),
                                     ("Link", "</x>"), ("X-Kept", "k")]
    answer = Response(200, b"", relayed).to_openfaas()
    assert [v for n, v in answer["headers"].items() if n.lower() == "set-cookie"] == ["a=1", "b=2"]


def test_canonical_names_as_go_writes_them():
    from faasml.http import canonical_name

    assert [canonical_name(n) for n in ("x-faasml-variant", "CONTENT-TYPE", "www-authenticate", "etag")] == [
        "X-Faasml-Variant", "Content-Type", "Www-Authenticate", "Etag"]

"""Hostile clients against every server a client reaches (tests/security/conftest.py):
each attack ends in a clean error or a closed connection, within a bound; never a hang, a
crash, or a corrupted next answer; and the server answers the next client as before."""
from __future__ import annotations

import time

import pytest

from tests.security.wire import Closed, Wire, get, post

BOUND_S = 6.0   # every limit under test is 1-2 s (conftest.LIMITS); of-watchdog's read_timeout 2 s


def ends_cleanly(wire: Wire, expected_status: int | None, target, code: str | None = None) -> None:
    """faasml's server answers with the expected error and closes (or just closes, where it
    could not read the request). A server in front of ours (of-watchdog: Go's net/http)
    must answer or close within the bound: Go frames Content-Length beside chunked by the
    chunking, as RFC 9112 6.3 allows, and answers that one request."""
    started = time.monotonic()
    try:
        answer = wire.answer()
    except (Closed, ConnectionResetError):
        answer = None
    assert time.monotonic() - started < BOUND_S
    if not target.ours:
        return
    if answer is not None:
        assert 400 <= answer.status < 600, answer
        if target.ours and expected_status is not None:
            assert answer.status == expected_status, answer
            if code is not None:
                assert answer.json()["error"]["code"] == code
    elif target.ours and expected_status is not None:
        pytest.fail(f"closed without the {expected_status} answer")
    assert wire.closed()


@pytest.fixture
def wire(target):
    opened = Wire(target.port)
    yield opened
    opened.close()
    assert target.healthy(), f"{target.name} stopped answering after the attack"


def test_slowloris_on_the_headers(target, wire):
    started = time.monotonic()
    still_open = wire.trickle(post(target.path("/x"), b"abc")[:-5], every_s=0.2, until_s=BOUND_S)
    assert not still_open or time.monotonic() - started < BOUND_S
    ends_cleanly(wire, 408, target, "request_timeout")


def test_slowloris_on_the_body(target, wire):
    wire.send(f"POST {target.path('/x')} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n".encode())
    wire.trickle(b"y" * 100, every_s=0.2, until_s=BOUND_S)
    ends_cleanly(wire, 408, target, "request_timeout")


@pytest.mark.parametrize("framing", [
    "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
    "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
    "Content-Length: 3\r\nContent-Length: 4\r\n",
    "Content-Length: 3\r\nContent-Length: 3\r\n",
    "Content-Length: -3\r\n",
    "Content-Length: 1_0\r\n",
    "Content-Length: 99999999999999999999999\r\n",
], ids=["cl-then-te", "te-then-cl", "conflicting-cl", "duplicate-cl", "negative-cl", "underscored-cl",
        "overflowing-cl"])
def test_ambiguous_framing_is_refused(target, wire, framing):
    # A smuggling attempt: whatever the server made of it, the "next request" inside the
    # body must never be answered as a request of its own.
    smuggled = get(target.path("/smuggled"))
    wire.send(f"POST {target.path('/x')} HTTP/1.1\r\nHost: x\r\n{framing}\r\n".encode() + b"0\r\n\r\n" + smuggled)
    ends_cleanly(wire, 400, target, "bad_request")


@pytest.mark.parametrize("size_line", [b"-5", b"fffffffffffffffffffff", b"1_0", b"zz"],
                         ids=["negative", "huge", "underscored", "not-hex"])
def test_bad_chunk_sizes_are_refused(target, wire, size_line):
    wire.send(f"POST {target.path('/x')} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
              + size_line + b"\r\nhello\r\n0\r\n\r\n")
    ends_cleanly(wire, 400, target, "bad_request")


def test_a_chunked_body_over_the_limit_is_refused(target, wire):
    chunk = b"1000\r\n" + b"z" * 4096 + b"\r\n"
    wire.send(f"POST {target.path('/x')} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
              + chunk * 3 + b"0\r\n\r\n")
    ends_cleanly(wire, 413, target, "payload_too_large")


def test_an_oversized_header_line(target, wire):
    wire.send(post(target.path("/x"), b"", "X-Big: " + "b" * 70_000 + "\r\n"))
    ends_cleanly(wire, 431, target, "headers_too_large")


def test_too_many_header_lines(target, wire):
    wire.send(post(target.path("/x"), b"", "".join(f"X-H{i}: v\r\n" for i in range(300))))
    ends_cleanly(wire, 431, target, "headers_too_large")


def test_a_pipelining_flood_is_answered_in_order_then_cut_off(target, wire):
    flood = b"".join(post(target.path(f"/p{i}"), b"") for i in range(2000))
    wire.send(flood)
    answers = wire.answers_until_closed()
    assert answers and (len(answers) < 2000 if target.cuts_pipelining else len(answers) <= 2000)
    # Whatever was answered was answered in order, each its own request's answer.
    assert [a.json()["path"] for a in answers] == [f"/p{i}" for i in range(len(answers))]


def test_pipelined_requests_get_their_own_answers_past_a_slow_one(target, wire):
    wire.send(post(target.path("/slow"), b"1") + post(target.path("/fast"), b"22"))
    first, second = wire.answer(), wire.answer()
    assert (first.json()["path"], second.json()["path"]) == ("/slow", "/fast")


@pytest.mark.parametrize("status", [204, 304])
def test_bodyless_answers_carry_no_body_and_the_next_answer_is_intact(target, wire, status):
    wire.send(post(target.path(f"/{status}"), b"") + post(target.path("/after"), b"ok"))
    bodyless = wire.answer()
    assert bodyless.status == status and bodyless.body == b""
    after = wire.answer()
    assert after.status == 200 and (after.json()["path"], after.json()["length"]) == ("/after", 2)


def test_head_answers_carry_no_body(target, wire):
    wire.send(f"HEAD {target.path('/big')}?n=500 HTTP/1.1\r\nHost: x\r\n\r\n".encode() + post(target.path("/after"), b""))
    head = wire.answer(head=True)
    assert head.status == 200 and head.body == b""
    assert wire.answer().json()["path"] == "/after"


def test_trailers_never_join_the_headers(target, wire):
    wire.send(f"POST {target.path('/t')} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Start-Time\r\n\r\n".encode()
              + b"5\r\nhello\r\n0\r\nX-Start-Time: 1\r\nX-Trailer: evil\r\n\r\n")
    answer = wire.answer()
    if answer.status == 200:
        assert answer.json()["length"] == 5 and answer.json()["trailer"] is None
        assert answer.json()["start"] != "1"
    else:
        assert 400 <= answer.status < 500


def test_expect_continue_is_never_written_ahead_of_owed_answers(target, wire):
    wire.send(post(target.path("/slow"), b"1")
              + f"POST {target.path('/e')} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc".encode())
    first = wire.answer()
    assert first.status == 200 and first.json()["path"] == "/slow"   # never the 100 first
    second = wire.answer()
    if second.status == 100:
        second = wire.answer()
    assert second.json()["path"] == "/e" and second.json()["length"] == 3


def test_an_oversized_body_is_refused_on_its_declared_length(target, wire):
    wire.send(f"POST {target.path('/x')} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n".encode())
    answer = wire.answer()
    if answer.status == 100 and target.name != "template-async" and target.name != "template-sync":
        # Go's net/http and aiohttp ask for the body before the handler judges it
        try:
            wire.send(b"b" * 100000)
            answer = wire.answer()
        except (Closed, OSError):
            return   # closed on the body it would not take
        if target.name == "behind-of-watchdog" and answer.status >= 500:
            # of-watchdog streams the body on to our server, which answers 413 on the
            # declared length and closes; Go's proxy may report that close as its own 500.
            return
    assert answer.status == 413 and answer.json()["error"]["code"] == "payload_too_large"


def test_idle_connections_are_closed(target):
    if not target.ours:
        pytest.skip("of-watchdog's idle timeout is its own (Go's http.Server)")
    idle = Wire(target.port)
    started = time.monotonic()
    assert idle.closed() and time.monotonic() - started < BOUND_S
    idle.close()


def test_the_connection_cap_refuses_the_one_too_many(target):
    if not target.ours:
        pytest.skip("of-watchdog takes every connection (Go's http.Server has no cap)")
    held = [Wire(target.port) for _ in range(45)]
    try:
        time.sleep(0.2)
        refused = 0
        for wire in held[40:]:
            try:
                answer = wire.answer()
                assert answer.status == 503 and answer.json()["error"]["code"] == "too_many_connections"
                refused += 1
            except (Closed, ConnectionResetError):
                refused += 1
        assert refused == 5
    finally:
        for wire in held:
            wire.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            assert target.healthy()
            break
        except OSError:
            time.sleep(0.1)
    else:
        pytest.fail("the server did not take connections again once the held ones closed")


def test_a_malformed_request_after_a_good_one_is_answered_after_it(target, wire):
    wire.send(post(target.path("/slow"), b"1") + b"BROKEN REQUEST\r\n\r\n")
    first = wire.answer()
    if target.name == "gateway" and first.status == 400:
        # aiohttp refuses the whole packet that holds a malformed request (its C parser
        # drops the requests parsed before the error): one clean 400, then the close.
        assert first.json()["error"]["code"] == "bad_request" and wire.closed()
        return
    assert first.status == 200 and first.json()["path"] == "/slow"
    ends_cleanly(wire, 400, target, "bad_request")


@pytest.mark.parametrize("path", ["/negative-length", "/conflicting-lengths", "/length-and-chunked",
                                  "/negative-chunk", "/too-large"])
def test_an_upstream_answering_bad_framing_or_too_much_is_a_502(target, path):
    if target.name != "gateway":
        pytest.skip("only the gateway calls an upstream here")
    wire = Wire(target.port)
    try:
        wire.send(post(f"/function/evil{path}", b"x") + post("/function/evil/fine", b"y"))
        answer = wire.answer()
        assert answer.status == 502 and answer.json()["error"]["code"] == "bad_gateway", answer
        after = wire.answer()   # the next answer on the same client connection is intact
        assert after.status == 200 and after.body == b"ok"
    finally:
        wire.close()
    assert target.healthy()

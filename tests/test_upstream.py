"""The platform's HTTP client (faasml/upstream.py) against real sockets speaking raw
HTTP/1.1: keep-alive, framing (strict: every malformed response is an error, never a
guess), the response cap, the per-host connection limit and the timeouts."""
from __future__ import annotations

import asyncio

import pytest

from faasml.upstream import (AsyncHttpClient, ConnectFailed, ConnectionLost, ProtocolError, ResponseTooLarge,
                             UpstreamPool, UpstreamTimeout)
from faasml.runtime.replicas import free_port


async def _serve(answers: list[bytes], seen: list[bytes], close_after: bool = False):
    """A server that reads one request head (+ Content-Length body) per answer it sends."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                seen.append(head + body)
                writer.write(answers.pop(0))
                await writer.drain()
                if close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()
    return await asyncio.start_server(handle, "127.0.0.1", 0)


def _port(server) -> int:
    return server.sockets[0].getsockname()[1]


def test_keep_alive_reuses_one_connection_and_bodies_are_binary_safe():
    async def scenario():
        seen: list[bytes] = []
        connections = []
        payload = bytes(range(256)) * 10
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-A: 1\r\n\r\n" % len(payload) + payload
        server = await _serve([answer, answer], seen)
        pool = UpstreamPool()
        first = await pool.request(_port(server), "POST", "/p?q=1", [("X-In", "v")], b"\x00\xff", 5)
        second = await pool.request(_port(server), "POST", "/p", [], b"", 5)
        connections.append(len(pool._idle[_port(server)]))
        pool.close()
        server.close()
        return first, second, seen, connections
    first, second, seen, connections = asyncio.run(scenario())
    assert first.status == 200 and first.body == bytes(range(256)) * 10
    assert ("X-A", "1") in first.headers and second.status == 200
    assert seen[0].startswith(b"POST /p?q=1 HTTP/1.1\r\n") and b"X-In: v\r\n" in seen[0]
    assert seen[0].endswith(b"Content-Length: 2\r\n\r\n\x00\xff")
    assert len(seen) == 2 and connections == [1]  # both requests on the same connection


def test_connect_failure_lost_connection_and_timeout_are_told_apart():
    async def scenario():
        pool = UpstreamPool()
        outcomes = []
        try:
            await pool.request(free_port(), "GET", "/", [], b"", 5)
        except ConnectFailed:
            outcomes.append("connect")
        seen: list[bytes] = []
        cut = await _serve([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nonly5"], seen, close_after=True)
        try:
            await pool.request(_port(cut), "GET", "/", [], b"", 5)
        except ConnectionLost:
            outcomes.append("lost")
        silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        try:
            await pool.request(_port(silent), "GET", "/", [], b"", 0.2)
        except asyncio.TimeoutError:
            outcomes.append("timeout")
        assert not pool._idle.get(_port(silent))  # a timed-out connection is never reused
        cut.close()
        silent.close()
        return outcomes
    assert asyncio.run(scenario()) == ["connect", "lost", "timeout"]


def test_a_connection_idle_past_the_limit_is_closed_not_reused(monkeypatch):
    from faasml import upstream

    async def scenario():
        seen: list[bytes] = []
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        server = await _serve([answer, answer, answer], seen)
        pool = UpstreamPool()
        await pool.request(_port(server), "GET", "/", [], b"", 5)
        first = pool._idle[_port(server)][0]
        await pool.request(_port(server), "GET", "/", [], b"", 5)
        reused = pool._idle[_port(server)][0] is first
        monkeypatch.setattr(upstream, "IDLE_CLOSE_S", -1.0)   # every idle one is now too old
        await pool.request(_port(server), "GET", "/", [], b"", 5)
        replaced = pool._idle[_port(server)][0] is not first and first.closed
        pool.close()
        server.close()
        return reused, replaced
    assert asyncio.run(scenario()) == (True, True)


async def _answer_raw(raw: bytes, *, then_close: bool = True):
    """A server that reads a request head and writes `raw` back, as it is."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(raw)
            await writer.drain()
            if not then_close:
                await reader.read()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()
    return await asyncio.start_server(handle, "127.0.0.1", 0)


def _fetch(raw: bytes, method: str = "GET", **kwargs):
    """The client's answer to a request whose response is `raw`: a response or the error."""
    async def scenario():
        server = await _answer_raw(raw, then_close=kwargs.pop("then_close", True))
        client = AsyncHttpClient()
        try:
            return await client.request(method, f"http://127.0.0.1:{_port(server)}/x", [], b"", 5, **kwargs)
        except Exception as exc:  # the assertion names what was expected
            return exc
        finally:
            await client.close()
            server.close()
    return asyncio.run(scenario())


def test_chunked_until_close_head_and_interim_responses():
    chunked = _fetch(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"3;ext=1\r\nab\x00\r\n2\r\n\r\n\r\n0\r\nX-Start-Time: 1\r\n\r\n")
    assert chunked.status == 200 and chunked.body == b"ab\x00\r\n"
    assert "X-Start-Time" not in chunked.headers   # a trailer never joins the head
    assert _fetch(b"HTTP/1.0 200 OK\r\n\r\nuntil close").body == b"until close"
    head = _fetch(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", method="HEAD", then_close=False)
    assert head.status == 200 and head.body == b"" and head.headers["Content-Length"] == "99"
    assert _fetch(b"HTTP/1.1 204 No Content\r\n\r\n").status == 204
    final = _fetch(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
    assert final.status == 201 and final.body == b"ok"


def test_repeated_headers_survive_in_order():
    answer = _fetch(b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nVary: Accept\r\nSet-Cookie: b=2\r\n"
                    b"Content-Length: 0\r\n\r\n")
    assert answer.headers.getall("set-cookie") == ["a=1", "b=2"] and answer.headers["VARY"] == "Accept"
    assert answer.elapsed_ms > 0


@pytest.mark.parametrize("raw", [
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1_0\r\n\r\n0123456789",
    b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-2\r\nok\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1_0\r\nok\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\nok\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n",
    b"NONSENSE\r\n\r\n",
], ids=["negative-length", "underscored-length", "signed-length", "conflicting-lengths", "duplicate-lengths",
        "listed-lengths", "overflowing-length", "length-with-chunked", "negative-chunk", "underscored-chunk",
        "huge-chunk", "space-in-name", "folded-header", "not-http"])
def test_malformed_framing_is_a_protocol_error_never_a_guess(raw):
    assert isinstance(_fetch(raw), ProtocolError)


def test_a_truncated_body_is_a_lost_connection():
    error = _fetch(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nonly5")
    assert isinstance(error, ConnectionLost) and not isinstance(error, ProtocolError)


def test_responses_over_the_cap_are_refused():
    body = b"x" * 5000
    assert isinstance(_fetch(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + body,
                             max_response_bytes=4096), ResponseTooLarge)
    chunks = b"".join(b"400\r\n" + b"y" * 1024 + b"\r\n" for _ in range(5)) + b"0\r\n\r\n"
    assert isinstance(_fetch(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks,
                             max_response_bytes=4096), ResponseTooLarge)
    assert isinstance(_fetch(b"HTTP/1.0 200 OK\r\n\r\n" + body, max_response_bytes=4096), ResponseTooLarge)
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(300))
    assert isinstance(_fetch(b"HTTP/1.1 200 OK\r\n" + many + b"Content-Length: 0\r\n\r\n"), ResponseTooLarge)
    fits = _fetch(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + body, max_response_bytes=8192)
    assert fits.body == body


def test_a_bodyless_answer_with_a_body_is_not_reused_for_the_next_request():
    async def scenario():
        seen: list[bytes] = []
        server = await _serve([b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello",
                               b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"], seen)
        client = AsyncHttpClient()
        url = f"http://127.0.0.1:{_port(server)}/"
        first = await client.request("GET", url, [], b"", 5)
        second = await client.request("GET", url, [], b"", 5)
        await client.close()
        server.close()
        return first, second
    first, second = asyncio.run(scenario())
    assert first.status == 204 and first.body == b""
    assert second.status == 200 and second.body == b"ok"   # on a new connection, not read from "hello"


def test_the_per_host_limit_queues_callers_and_a_full_pool_times_out_as_not_sent():
    async def scenario():
        async def slow(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            await asyncio.sleep(0.3)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            writer.close()
        server = await asyncio.start_server(slow, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{_port(server)}/"
        client = AsyncHttpClient(limit_per_host=2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        answers = await asyncio.gather(*(client.request("GET", url, [], b"", 5) for _ in range(4)))
        took = loop.time() - started
        waited = AsyncHttpClient(limit_per_host=1)
        first = asyncio.ensure_future(waited.request("GET", url, [], b"", 5))
        await asyncio.sleep(0.05)
        try:
            await waited.request("GET", url, [], b"", 5, connect_timeout_s=0.1)
            refused = None
        except ConnectFailed as exc:
            refused = exc
        await first
        await client.close()
        await waited.close()
        server.close()
        return [a.status for a in answers], took, refused
    statuses, took, refused = asyncio.run(scenario())
    assert statuses == [200] * 4 and took >= 0.55          # two at a time: two rounds of 0.3 s
    assert isinstance(refused, ConnectFailed) and isinstance(refused, asyncio.TimeoutError)


def test_urls_with_a_path_prefix_headers_as_a_multidict_and_header_injection():
    from multidict import CIMultiDict

    async def scenario():
        seen: list[bytes] = []
        server = await _serve([b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"], seen)
        client = AsyncHttpClient()
        headers = CIMultiDict([("X-Twice", "1"), ("X-Twice", "2"), ("Content-Length", "999")])
        await client.request("POST", f"http://127.0.0.1:{_port(server)}/prefix/function/f?q=1", headers, b"ab", 5)
        try:
            await client.request("GET", f"http://127.0.0.1:{_port(server)}/", [("X-Bad", "a\r\nInjected: 1")], b"", 5)
            injected = None
        except ValueError as exc:
            injected = exc
        await client.close()
        server.close()
        return seen, injected
    seen, injected = asyncio.run(scenario())
    assert seen[0].startswith(b"POST /prefix/function/f?q=1 HTTP/1.1\r\n")
    assert b"X-Twice: 1\r\nX-Twice: 2\r\n" in seen[0] and b"999" not in seen[0]
    assert seen[0].endswith(b"Content-Length: 2\r\n\r\nab") and isinstance(injected, ValueError)


def test_timeouts_name_their_phase():
    async def scenario():
        async def head_then_stall(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab")
            await asyncio.sleep(2)
            writer.close()
        silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        stalled = await asyncio.start_server(head_then_stall, "127.0.0.1", 0)
        client = AsyncHttpClient()
        phases = []
        for server in (silent, stalled):
            try:
                await client.request("GET", f"http://127.0.0.1:{_port(server)}/", [], b"", 0.2)
            except UpstreamTimeout as exc:
                phases.append(exc.phase)
        await client.close()
        silent.close()
        stalled.close()
        return phases
    assert asyncio.run(scenario()) == ["headers", "body"]

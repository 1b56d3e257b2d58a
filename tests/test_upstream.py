"""The gateway's upstream client against real sockets speaking raw HTTP/1.1."""
from __future__ import annotations

import asyncio

import pytest

from faasml.upstream import ConnectFailed, ConnectionLost, UpstreamPool, _ResponseParser
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


def test_chunked_until_close_head_and_no_body_responses():
    def parse(raw: bytes, head_only: bool = False, eof: bool = False):
        parser = _ResponseParser(head_only)
        response = None
        for i in range(len(raw)):  # byte by byte: every split point must work
            response = parser.feed(raw[i:i + 1]) or response
        return parser.finish() if eof and response is None else response
    chunked = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"3;ext=1\r\nab\x00\r\n2\r\n\r\n\r\n0\r\nTrailer: x\r\n\r\n")
    assert chunked.body == b"ab\x00\r\n" and all(n != "Transfer-Encoding" for n, _ in chunked.headers)
    assert parse(b"HTTP/1.0 200 OK\r\n\r\nuntil close", eof=True).body == b"until close"
    assert parse(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", head_only=True).body == b""
    assert parse(b"HTTP/1.1 204 No Content\r\n\r\n").status == 204
    final = parse(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
    assert final.status == 201 and final.body == b"ok"
    with pytest.raises(ConnectionLost):
        parse(b"NONSENSE\r\n\r\n")


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

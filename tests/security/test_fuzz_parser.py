"""Property-based fuzzing of the request parsing every function's server does (uvicorn's
llhttp + GuardedHttpToolsProtocol + the ASGI app): any bytes, and valid requests mangled
at any point, end in an answer or a closed connection within the bound, and the server
answers the next client as before. `make fuzz` runs thousands of examples."""
from __future__ import annotations

import socket
import time

import pytest
from hypothesis import given, strategies as st

from tests.security.conftest import ASYNC_HANDLER, start_direct
from tests.security.wire import Closed, Wire, post

BOUND_S = 5.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    target = start_direct(tmp_path_factory.mktemp("fuzz"), ASYNC_HANDLER, "template-async")
    yield target
    target.process.kill()
    target.process.wait()


def answers_or_closes(port: int, raw: bytes) -> None:
    wire = Wire(port, timeout_s=BOUND_S + 1)
    started = time.monotonic()
    try:
        wire.send(raw)
        wire.sock.shutdown(socket.SHUT_WR)   # nothing more is coming: no deadline to wait for
        while True:
            answer = wire.answer()
            assert 100 <= answer.status < 600
    except (Closed, ConnectionResetError, BrokenPipeError):
        pass
    except AssertionError:
        raise
    except ValueError:
        pass   # an answer to a request the fuzzer cut mid-way may itself be cut by the close
    finally:
        wire.close()
    assert time.monotonic() - started < BOUND_S


TOKENS = [b"GET", b"POST", b" ", b"/", b"HTTP/1.1", b"HTTP/1.0", b"\r\n", b"\n", b":", b"Content-Length",
          b"Transfer-Encoding", b"chunked", b"0", b"-1", b"ffffffffffffffff", b"Expect", b"100-continue",
          b"Connection", b"close", b"keep-alive", b"Host", b"\x00", b"\r\n\r\n", b"Upgrade", b"h2c", b";", b","]


@given(raw=st.binary(max_size=400))
def test_any_bytes(server, raw):
    answers_or_closes(server.port, raw)
    assert server.alive()


@given(parts=st.lists(st.sampled_from(TOKENS) | st.binary(max_size=8), max_size=40))
def test_requests_built_from_http_tokens(server, parts):
    answers_or_closes(server.port, b"".join(parts))
    assert server.alive()


@given(cut=st.integers(0, 200), insert=st.binary(min_size=1, max_size=6), body=st.binary(max_size=64))
def test_a_valid_request_mangled_at_any_point(server, cut, insert, body):
    raw = post("/f?q=1", body, "Transfer-Encoding: chunked\r\n" if cut % 3 == 0 else "X-A: b\r\n")
    cut = min(cut, len(raw))
    answers_or_closes(server.port, raw[:cut] + insert + raw[cut:])
    assert server.alive()


def test_the_server_still_serves_after_the_fuzzing(server):
    assert server.healthy()

"""The template's asyncio server (a coroutine `handle`): the same event and response
contract as the Flask path, a JSON error for a failing handler and for an oversized body,
and the process serving on; alone and behind the stock of-watchdog in http mode."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from faasml.images.tools import OF_WATCHDOG, find_tool, missing_reason
from faasml.runtime.replicas import free_port

ROOT = Path(__file__).resolve().parents[2]
ASYNC_HANDLER = '''
import asyncio
import json


async def handle(event, context):
    if event.path == "/boom":
        raise RuntimeError("handler failed")
    if event.path == "/bad-header":
        return {"statusCode": 200, "headers": {"X-Split": "a\\r\\nInjected: yes"}, "body": "no"}
    if event.path == "/slow":
        await asyncio.sleep(0.3)
    await asyncio.sleep(0.05)   # concurrent requests overlap on the one loop
    return {"statusCode": 201, "headers": {"X-Seen-Method": event.method},
            "body": {"path": event.path, "query": event.query, "length": len(event.body),
                     "type": event.headers.get("content-type")}}
'''


def lay_out(folder: Path) -> Path:
    """index.py + function/handler.py, as `faas-cli build --shrinkwrap` lays a function out."""
    (folder / "function").mkdir(parents=True)
    (folder / "function" / "handler.py").write_text(ASYNC_HANDLER)
    (folder / "index.py").write_text((ROOT / "templates/faasml-python3-http/index.py").read_text())
    return folder


def call(url: str, body: bytes | None = None, headers: dict[str, str] | None = None):
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def wait_up(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stdout.read().decode() if process.stdout else "exited")
        try:
            call(url + "/up")
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("server did not start")


def check_contract(url: str) -> None:
    status, headers, body = call(url + "/some/path?a=1&a=2&b=x", b"12345", {"Content-Type": "text/plain"})
    assert status == 201 and headers["x-seen-method"] == "POST"
    assert json.loads(body) == {"path": "/some/path", "query": {"a": "1", "b": "x"}, "length": 5,
                                "type": "text/plain"}
    status, _, body = call(url + "/boom", b"x")
    error = json.loads(body)["error"]
    assert status == 500 and error["code"] == "internal" and "handler failed" not in error["message"]
    status, _, body = call(url + "/", b"x" * 2048)   # over FAASML_SERVER_MAX_BODY below
    assert status == 413 and json.loads(body)["error"]["code"] == "payload_too_large"
    # Still serving, and concurrently: ten 50 ms requests take far less than 0.5 s.
    from concurrent.futures import ThreadPoolExecutor
    started = time.monotonic()
    with ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(lambda _: call(url + "/", b"y")[0], range(10)))
    assert statuses == [201] * 10 and time.monotonic() - started < 0.45


@pytest.fixture
def served(tmp_path):
    """The asyncio server alone on a free port, with a 1024-byte body limit: its port."""
    folder = lay_out(tmp_path / "fn")
    port = free_port()
    process = subprocess.Popen([sys.executable, "index.py"], cwd=folder, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT,
                               env={**os.environ, "FAASML_LISTEN_PORT": str(port), "FAASML_SERVER_MAX_BODY": "1024",
                                    "FAASML_SERVER_KEEPALIVE_S": "1",
                                    "FAASML_SERVER_HEADER_TIMEOUT_S": "1"})
    try:
        wait_up(f"http://127.0.0.1:{port}", process)
        yield port
        assert process.poll() is None, "the server died"
    finally:
        process.kill()
        process.wait()


def test_a_coroutine_handler_is_served_on_an_event_loop(served):
    check_contract(f"http://127.0.0.1:{served}")


def exchange(port: int, raw: bytes, responses: int = 1, timeout: float = 5.0) -> list[tuple[int, dict, bytes]]:
    """Send raw bytes on one connection; read `responses` answers (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        reader = sock.makefile("rb")
        answers = []
        for _ in range(responses):
            answers.append(read_response(reader))
        return answers


def read_response(reader, head: bool = False) -> tuple[int, dict, bytes]:
    status_line = reader.readline()
    assert status_line.startswith(b"HTTP/1.1 "), status_line
    status = int(status_line.split()[1])
    headers = {}
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = 0 if head else int(headers.get("content-length", 0))
    return status, headers, reader.read(length) if length else b""


def post(path: str, body: bytes, extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def test_keep_alive_and_pipelined_requests_are_answered_in_order(served):
    # The first takes 0.3 s, the second none: answers still come first to last.
    answers = exchange(served, post("/slow", b"1") + post("/fast?n=2", b"22"), responses=2)
    assert [json.loads(body)["path"] for _, _, body in answers] == ["/slow", "/fast"]
    assert [json.loads(body)["length"] for _, _, body in answers] == [1, 2]
    assert all(status == 201 and "date" in headers for status, headers, _ in answers)


def test_chunked_bodies_and_expect_continue(served):
    chunked = (b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    [(status, _, body)] = exchange(served, chunked)
    assert status == 201 and json.loads(body)["length"] == 11
    with socket.create_connection(("127.0.0.1", served), timeout=5) as sock:
        sock.sendall(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"HTTP/1.1 100")
        assert reader.readline() == b"\r\n"
        sock.sendall(b"abc")
        status, _, body = read_response(reader)
        assert status == 201 and json.loads(body)["length"] == 3


def test_bad_requests_get_json_errors_and_the_server_serves_on(served):
    [(status, headers, body)] = exchange(served, b"NOT HTTP AT ALL\r\n\r\n")
    assert status == 400 and json.loads(body)["error"]["code"] == "bad_request"
    assert headers["connection"] == "close"
    # Too large, told by Content-Length (body sent anyway, read and dropped) or chunked.
    [(status, _, body)] = exchange(served, post("/", b"x" * 5000))
    assert status == 413 and json.loads(body)["error"]["code"] == "payload_too_large"
    chunk = b"800\r\n" + b"y" * 2048 + b"\r\n"
    [(status, _, _)] = exchange(served, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                + chunk + b"0\r\n\r\n")
    assert status == 413
    # Too large, with a client that waits for the go-ahead: refused before the body.
    [(status, _, _)] = exchange(served, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n"
                                        b"Expect: 100-continue\r\n\r\n")
    assert status == 413
    many = "".join(f"X-H{i}: v\r\n" for i in range(300))
    [(status, _, body)] = exchange(served, post("/", b"", many))
    assert status == 431 and json.loads(body)["error"]["code"] == "headers_too_large"
    # A handler's header with a line break is its error, not a split response.
    [(status, headers, body)] = exchange(served, post("/bad-header", b""))
    assert status == 500 and "injected" not in headers
    # A client that leaves in the middle of its answer.
    with socket.create_connection(("127.0.0.1", served), timeout=5) as sock:
        sock.sendall(post("/slow", b"x"))
    assert exchange(served, post("/after", b"ok"))[0][0] == 201


def test_head_http10_and_decoded_paths(served):
    with socket.create_connection(("127.0.0.1", served), timeout=5) as sock:
        sock.sendall(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n" + post("/next", b""))
        reader = sock.makefile("rb")
        status, headers, _ = read_response(reader, head=True)
        assert status == 201 and int(headers["content-length"]) > 0
        # No body came after the HEAD answer: the next answer starts right there.
        assert json.loads(read_response(reader)[2])["path"] == "/next"
    with socket.create_connection(("127.0.0.1", served), timeout=5) as sock:
        sock.sendall(b"POST /p%20q?x=a+b&x=2&e=%C3%A9 HTTP/1.0\r\nContent-Length: 0\r\n\r\n")
        reader = sock.makefile("rb")
        status, headers, body = read_response(reader)
        assert reader.read() == b""          # HTTP/1.0 without keep-alive: closed after
    assert status == 201 and headers["connection"] == "close"
    assert json.loads(body)["path"] == "/p q" and json.loads(body)["query"] == {"x": "a b", "e": "é"}


def test_behind_the_stock_of_watchdog(tmp_path):
    watchdog = find_tool(OF_WATCHDOG)
    if watchdog is None:
        pytest.skip(missing_reason(OF_WATCHDOG))
    folder = lay_out(tmp_path / "fn")
    upstream, port = free_port(), free_port()
    env = {**os.environ, "fprocess": f"{sys.executable} index.py", "mode": "http",
           "upstream_url": f"http://127.0.0.1:{upstream}", "port": str(port),
           "FAASML_LISTEN_PORT": str(upstream), "FAASML_SERVER_MAX_BODY": "1024",
           "exec_timeout": "10s", "read_timeout": "10s", "write_timeout": "10s"}
    process = subprocess.Popen([str(watchdog)], cwd=folder, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_up(url, process)
        deadline = time.monotonic() + 30
        while call(url + "/up")[0] >= 500 and time.monotonic() < deadline:   # upstream starting
            time.sleep(0.1)
        check_contract(url)
    finally:
        process.kill()
        process.wait()


def test_idle_and_unfinished_connections_are_closed(served):
    with socket.create_connection(("127.0.0.1", served), timeout=5) as idle, \
            socket.create_connection(("127.0.0.1", served), timeout=5) as unfinished:
        unfinished.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Le")   # and nothing more
        started = time.monotonic()
        assert idle.recv(1) == b""                                        # closed by the server
        status, _, body = read_response(unfinished.makefile("rb"))       # told why, then closed
        assert status == 408 and json.loads(body)["error"]["code"] == "request_timeout"
        assert unfinished.recv(1) == b""
        assert 0.9 < time.monotonic() - started < 4

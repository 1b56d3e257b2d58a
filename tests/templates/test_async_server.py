"""The template's asyncio server (a coroutine `handle`): the same event and response
contract as the Flask path, a JSON error for a failing handler and for an oversized body,
and the process serving on; alone and behind the stock of-watchdog in http mode."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from faasml.images.tools import OF_WATCHDOG, find_tool
from faasml.runtime.replicas import free_port

ROOT = Path(__file__).resolve().parents[2]
ASYNC_HANDLER = '''
import asyncio
import json


async def handle(event, context):
    if event.path == "/boom":
        raise RuntimeError("handler failed")
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
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


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
    assert status == 201 and headers["X-Seen-Method"] == "POST"
    assert json.loads(body) == {"path": "/some/path", "query": {"a": "1", "b": "x"}, "length": 5,
                                "type": "text/plain"}
    status, _, body = call(url + "/boom", b"x")
    assert status == 500 and json.loads(body)["error"]["message"] == "RuntimeError: handler failed"
    status, _, body = call(url + "/", b"x" * 2048)   # over FAASML_SERVER_MAX_BODY below
    assert status == 413 and json.loads(body)["error"]["code"] == "payload_too_large"
    # Still serving, and concurrently: ten 50 ms requests take far less than 0.5 s.
    from concurrent.futures import ThreadPoolExecutor
    started = time.monotonic()
    with ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(lambda _: call(url + "/", b"y")[0], range(10)))
    assert statuses == [201] * 10 and time.monotonic() - started < 0.45


def test_a_coroutine_handler_is_served_on_an_event_loop(tmp_path):
    folder = lay_out(tmp_path / "fn")
    port = free_port()
    process = subprocess.Popen([sys.executable, "index.py"], cwd=folder, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT,
                               env={**os.environ, "FAASML_LISTEN_PORT": str(port), "FAASML_SERVER_MAX_BODY": "1024"})
    try:
        url = f"http://127.0.0.1:{port}"
        wait_up(url, process)
        check_contract(url)
    finally:
        process.kill()
        process.wait()


def test_behind_the_stock_of_watchdog(tmp_path):
    watchdog = find_tool(OF_WATCHDOG)
    if watchdog is None:
        pytest.skip("fwatchdog not found: put the stock of-watchdog on the PATH or name it in $OF_WATCHDOG")
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

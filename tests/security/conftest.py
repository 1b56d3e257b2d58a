"""The servers under attack, each on free ports with small limits so that every attack
ends in a second or two: the template server alone (a coroutine handler and a plain one),
and behind the stock of-watchdog where it is on the PATH. Each target carries the path
prefix its function is reached at, and whether it is faasml's own server facing the
client (then the exact answer is known: status and error code)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from faasml.images.tools import OF_WATCHDOG, find_tool
from faasml.runtime.replicas import free_port
from faasml.serving.template import SHIM

HANDLER = '''
import json
import time


def handle(event, context):
    if event.path == "/204":
        return {"statusCode": 204, "body": "a body a 204 must never carry"}
    if event.path == "/304":
        return {"statusCode": 304, "headers": {"ETag": '"x"'}, "body": "a body a 304 must never carry"}
    if event.path == "/slow":
        time.sleep(0.3)
    if event.path == "/big":
        return {"statusCode": 200, "body": b"x" * int(event.query.get("n", "1000"))}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json", "Set-Cookie": "a=1"},
            "body": json.dumps({"path": event.path, "length": len(event.body),
                                "start": event.headers.get("x-start-time"),
                                "trailer": event.headers.get("x-trailer")})}
'''
ASYNC_HANDLER = HANDLER.replace("import time", "import asyncio").replace(
    "def handle(", "async def handle(").replace("time.sleep(0.3)", "await asyncio.sleep(0.3)")

LIMITS = {"FAASML_SERVER_MAX_BODY": "4096", "FAASML_SERVER_HEADER_TIMEOUT_S": "1",
          "FAASML_SERVER_BODY_TIMEOUT_S": "1", "FAASML_SERVER_KEEPALIVE_S": "2",
          "FAASML_SERVER_MAX_CONNECTIONS": "40", "FAASML_SERVER_MAX_PIPELINED": "4",
          "FAASML_SERVER_MAX_HEADER_BYTES": "8192", "FAASML_SERVER_MAX_HEADERS": "50"}


@dataclass
class Target:
    name: str
    port: int
    prefix: str               # the function's path on this port
    ours: bool                # faasml's own server faces the client
    process: subprocess.Popen
    server_pid: int
    cuts_pipelining: bool = True   # past the depth cap: the connection closes (aiohttp: reading pauses)

    def path(self, tail: str) -> str:
        return self.prefix.rstrip("/") + tail if self.prefix != "/" else tail

    def alive(self) -> bool:
        return self.process.poll() is None

    def healthy(self) -> bool:
        """Alive, and a plain request still gets its 200."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{self.path('/ok')}", data=b"hi",
                                         method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            return self.alive() and response.status == 200


def lay_out(folder: Path, handler: str) -> Path:
    (folder / "function").mkdir(parents=True)
    (folder / "function" / "handler.py").write_text(handler)
    (folder / "index.py").write_text(SHIM)
    return folder


def wait_serving(port: int, process: subprocess.Popen, path: str = "/up") -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError("the server exited before serving (see its out.log)")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2)
            return
        except urllib.error.HTTPError as error:
            if error.code < 500 and error.code != 404:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("not serving after 60 s")


def start_direct(folder: Path, handler: str, name: str) -> Target:
    lay_out(folder, handler)
    port = free_port()
    # Output to a file: a pipe nobody reads would block the server once full.
    process = subprocess.Popen([sys.executable, "index.py"], cwd=folder, stdout=open(folder / "out.log", "wb"),
                               stderr=subprocess.STDOUT,
                               env={**os.environ, **LIMITS, "FAASML_LISTEN_PORT": str(port)})
    wait_serving(port, process)
    return Target(name, port, "/", True, process, process.pid)


def start_behind_watchdog(folder: Path, handler: str, name: str) -> Target:
    watchdog = find_tool(OF_WATCHDOG)
    if watchdog is None:
        pytest.skip("fwatchdog not found: put the stock of-watchdog on the PATH or name it in $OF_WATCHDOG")
    lay_out(folder, handler)
    upstream, port = free_port(), free_port()
    env = {**os.environ, **LIMITS, "fprocess": f"{sys.executable} index.py", "mode": "http",
           "upstream_url": f"http://127.0.0.1:{upstream}", "port": str(port), "FAASML_LISTEN_PORT": str(upstream),
           "exec_timeout": "10s", "read_timeout": "2s", "write_timeout": "10s"}
    process = subprocess.Popen([str(watchdog)], cwd=folder, env=env, stdout=open(folder / "out.log", "wb"),
                               stderr=subprocess.STDOUT)
    wait_serving(port, process)
    return Target(name, port, "/", False, process, process.pid, cuts_pipelining=False)


GATEWAY_LIMITS = {"FAASML_UP_HEADER_TIMEOUT_S": "1", "FAASML_UP_BODY_TIMEOUT_S": "1", "FAASML_UP_KEEPALIVE_S": "2",
                  "FAASML_UP_MAX_CONNECTIONS": "40", "FAASML_UP_MAX_PIPELINED": "4",
                  "FAASML_UP_MAX_HEADER_LINE_BYTES": "8192", "FAASML_UP_MAX_HEADERS": "50",
                  "FAASML_UP_MAX_RESPONSE_MB": "1"}
# A replica that answers with broken framing, or too much: what the gateway's client must refuse.
EVIL_INDEX = '''
import asyncio
import os

ANSWERS = {
    b"/negative-length": b"HTTP/1.1 200 OK\\r\\nContent-Length: -1\\r\\n\\r\\n",
    b"/conflicting-lengths": b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nContent-Length: 3\\r\\n\\r\\nabc",
    b"/length-and-chunked": b"HTTP/1.1 200 OK\\r\\nContent-Length: 3\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n3\\r\\nabc\\r\\n0\\r\\n\\r\\n",
    b"/negative-chunk": b"HTTP/1.1 200 OK\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n-3\\r\\nabc\\r\\n0\\r\\n\\r\\n",
    b"/too-large": b"HTTP/1.1 200 OK\\r\\nContent-Length: 2097152\\r\\n\\r\\n" + b"x" * 2097152,
}


async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\\r\\n\\r\\n")
            path = head.split(b" ")[1]
            for line in head.split(b"\\r\\n"):
                if line.lower().startswith(b"content-length:"):
                    await reader.readexactly(int(line.split(b":")[1]))
            writer.write(ANSWERS.get(path, b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok"))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", int(os.environ["FAASML_LISTEN_PORT"]))
    await server.serve_forever()

asyncio.run(main())
'''


def start_gateway(folder: Path) -> Target:
    """`faasml up` serving the plain handler (`hostile`) and the evil replica (`evil`)."""
    import yaml

    from tests.runtime.conftest import PASSWORD
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hostile").mkdir()
    (folder / "hostile" / "handler.py").write_text(HANDLER)
    (folder / "evil").mkdir()
    (folder / "evil" / "handler.py").write_text("")
    evil_template = folder / "templates" / "evil"
    evil_template.mkdir(parents=True)
    (evil_template / "index.py").write_text(EVIL_INDEX)
    (evil_template / "template.yml").write_text("language: evil\nfprocess: python index.py\n")
    stack = {"version": 1.0, "provider": {"name": "openfaas"}, "functions": {
        "hostile": {"lang": "faasml-python3-http", "handler": "./hostile", "image": "faasml/hostile:0",
                    "environment": {**LIMITS}},
        "evil": {"lang": "evil", "handler": "./evil", "image": "faasml/evil:0"}}}
    (folder / "stack.yml").write_text(yaml.safe_dump(stack))
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "faasml", "up", "-f", str(folder / "stack.yml"), "--port", str(port)],
                               cwd=Path(__file__).resolve().parents[2], stdout=open(folder / "out.log", "wb"),
                               stderr=subprocess.STDOUT,
                               env={**os.environ, **GATEWAY_LIMITS, "FAASML_GATEWAY_PASSWORD": PASSWORD})
    wait_serving(port, process, "/function/hostile/up")
    wait_serving(port, process, "/function/evil/up")
    return Target("gateway", port, "/function/hostile", True, process, process.pid, cuts_pipelining=False)


STARTERS = {
    "template-async": lambda folder: start_direct(folder, ASYNC_HANDLER, "template-async"),
    "template-sync": lambda folder: start_direct(folder, HANDLER, "template-sync"),
    "behind-of-watchdog": lambda folder: start_behind_watchdog(folder, ASYNC_HANDLER, "behind-of-watchdog"),
    "gateway": start_gateway,
}


@pytest.fixture(scope="module", params=sorted(STARTERS))
def target(request, tmp_path_factory):
    started = STARTERS[request.param](tmp_path_factory.mktemp(request.param))
    try:
        yield started
    finally:
        started.process.kill()
        started.process.wait()

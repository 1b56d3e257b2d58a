"""Raw HTTP/1.1 on a socket, as a hostile client writes it, and the reading of answers
that a test judges: a whole answer, or the connection closed, within a bound."""
from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


class Closed(Exception):
    """The server closed the connection (no more answers)."""


class Wire:
    def __init__(self, port: int, timeout_s: float = 10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        self.reader = self.sock.makefile("rb")

    def send(self, data: bytes) -> "Wire":
        self.sock.sendall(data)
        return self

    def trickle(self, data: bytes, every_s: float, until_s: float) -> bool:
        """Send `data` a byte at a time; False once the server closed on us (or `until_s`)."""
        deadline = time.monotonic() + until_s
        for index in range(len(data)):
            if time.monotonic() > deadline:
                return True
            try:
                self.sock.sendall(data[index:index + 1])
            except OSError:
                return False
            time.sleep(every_s)
        return True

    def answer(self, head: bool = False) -> Answer:
        line = self.reader.readline()
        if not line:
            raise Closed()
        assert line.startswith(b"HTTP/1."), line
        status = int(line.split()[1])
        headers: dict[str, str] = {}
        while (line := self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if head or status in (204, 304) or 100 <= status < 200:
            return Answer(status, headers, b"")
        if "content-length" in headers:
            return Answer(status, headers, self.reader.read(int(headers["content-length"])))
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.reader.readline().split(b";")[0], 16)
                if size == 0:
                    while self.reader.readline() not in (b"\r\n", b""):
                        pass
                    return Answer(status, headers, body)
                body += self.reader.read(size)
                self.reader.readline()
        return Answer(status, headers, self.reader.read())

    def answers_until_closed(self, limit: int = 10_000) -> list[Answer]:
        answers = []
        try:
            while len(answers) < limit:
                answers.append(self.answer())
        except (Closed, ConnectionResetError):
            pass
        return answers

    def closed(self) -> bool:
        """True when the server has closed (reads EOF), within the socket's timeout."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


def post(path: str, body: bytes = b"", extra: str = "") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode()

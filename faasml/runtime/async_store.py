"""The async invocations' durable queue: one SQLite file in the state folder.

An accepted call is committed (WAL, `synchronous=FULL`: fsync'd) before its 202 is sent,
so a `faasml up` killed with SIGKILL loses nothing it accepted. A call lives in one row
through two phases: `invoke` (run the function) and `callback` (post its result to
X-Callback-Url); the result is stored between them, so a restart after the function ran
only re-posts the callback. A row is deleted when its call is finished; a call that
exhausted its attempts is dead-lettered: it stays as `failed`, with the reason, and keeps
its request body for a replay (`replay`) until `prune` drops the body (past the retention
time, or beyond the newest N dead calls) and, later, the row. Delivery is at least once: a
call that was in flight when the runtime died runs again, with the same X-Call-Id.

Not thread-safe: the queue uses it from one thread (see async_queue.AsyncQueue).
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

INVOKE, CALLBACK, FAILED = "invoke", "callback", "failed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id TEXT NOT NULL,
    function TEXT NOT NULL,          -- name.namespace
    method TEXT NOT NULL,
    target TEXT NOT NULL,            -- subpath and raw query, as received
    headers TEXT NOT NULL,           -- JSON [[name, value], ...]
    body BLOB NOT NULL,
    callback_url TEXT,
    accepted_ns INTEGER NOT NULL,    -- Unix ns: the deadline of a selector call runs from here
    phase TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL DEFAULT 0, -- Unix s: not before (retry backoff)
    status INTEGER,                  -- the function's answer, once it ran
    result_headers TEXT,
    result_body BLOB,
    duration_s REAL,
    reason TEXT,                     -- why it failed
    failed_at REAL,                  -- Unix s: when it was dead-lettered
    body_dropped INTEGER NOT NULL DEFAULT 0  -- 1: its body is gone, it cannot be replayed
);
CREATE INDEX IF NOT EXISTS calls_phase ON calls (phase, next_at);
"""


@dataclass
class QueuedCall:
    id: int
    call_id: str
    function: str
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    callback_url: str | None
    accepted_ns: int
    phase: str = INVOKE
    attempts: int = 0
    next_at: float = 0.0
    status: int | None = None
    result_headers: list[tuple[str, str]] | None = None
    result_body: bytes | None = None
    duration_s: float | None = None


@dataclass(frozen=True)
class PendingEntry:
    """What the dispatcher keeps in memory per call (the body stays on disk)."""

    id: int
    function: str
    accepted_ns: int
    phase: str
    next_at: float


class AsyncStore:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # Bodies may hold anything a client sent: the file is private from its creation,
        # and SQLite gives its -wal and -shm files the database file's permissions.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        for own in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if own.exists():
                own.chmod(0o600)
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # a commit is on disk before it returns
        self.db.executescript(_SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(calls)")}
        for column, declaration in (("failed_at", "REAL"), ("body_dropped", "INTEGER NOT NULL DEFAULT 0")):
            if column not in columns:   # a queue file from before dead-lettering
                self.db.execute(f"ALTER TABLE calls ADD COLUMN {column} {declaration}")

    def close(self) -> None:
        self.db.close()

    def add(self, call: QueuedCall) -> int:
        cursor = self.db.execute(
            "INSERT INTO calls (call_id, function, method, target, headers, body, callback_url, "
            "accepted_ns, phase) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (call.call_id, call.function, call.method, call.target, json.dumps(call.headers),
             call.body, call.callback_url, call.accepted_ns, INVOKE))
        return int(cursor.lastrowid)

    def pending(self) -> list[PendingEntry]:
        """Every unfinished call, oldest first: what a (re)started queue must deliver."""
        rows = self.db.execute("SELECT id, function, accepted_ns, phase, next_at FROM calls "
                               "WHERE phase != ? ORDER BY id", (FAILED,))
        return [PendingEntry(*row) for row in rows]

    def load(self, call_id: int) -> QueuedCall | None:
        row = self.db.execute(
            "SELECT id, call_id, function, method, target, headers, body, callback_url, accepted_ns, "
            "phase, attempts, next_at, status, result_headers, result_body, duration_s "
            "FROM calls WHERE id = ?", (call_id,)).fetchone()
        if row is None:
            return None
        call = QueuedCall(*row)
        call.headers = [tuple(h) for h in json.loads(call.headers)]  # type: ignore[arg-type]
        if call.result_headers is not None:
            call.result_headers = [tuple(h) for h in json.loads(call.result_headers)]  # type: ignore
        return call

    def retry_later(self, call_id: int, attempts: int, next_at: float) -> None:
        self.db.execute("UPDATE calls SET attempts = ?, next_at = ? WHERE id = ?", (attempts, next_at, call_id))

    def ran(self, call_id: int, status: int, headers: list[tuple[str, str]], body: bytes,
            duration_s: float) -> None:
        """The function answered for good: keep its answer, on to the callback phase."""
        self.db.execute(
            "UPDATE calls SET phase = ?, attempts = 0, next_at = 0, status = ?, result_headers = ?, "
            "result_body = ?, duration_s = ? WHERE id = ?",
            (CALLBACK, status, json.dumps(headers), body, duration_s, call_id))

    def finish(self, call_id: int) -> None:
        self.db.execute("DELETE FROM calls WHERE id = ?", (call_id,))

    def fail(self, call_id: int, reason: str, now: float | None = None) -> None:
        """Dead-letter a call: its request body stays (for a replay), its answer goes."""
        self.db.execute("UPDATE calls SET phase = ?, reason = ?, failed_at = ?, result_body = NULL "
                        "WHERE id = ?", (FAILED, reason, time.time() if now is None else now, call_id))

    def failed(self, limit: int = 100) -> list[dict[str, object]]:
        rows = self.db.execute(
            "SELECT id, call_id, function, status, reason, attempts, failed_at, body_dropped, length(body) "
            "FROM calls WHERE phase = ? ORDER BY id DESC LIMIT ?", (FAILED, limit))
        return [{"id": i, "callId": c, "function": f, "status": s, "reason": r, "attempts": a,
                 "failedAt": t, "replayable": not d, "bodyBytes": n}
                for i, c, f, s, r, a, t, d, n in rows]

    def replay(self, call_id: int) -> PendingEntry | None:
        """Put a dead call back to run from its first attempt; None when there is no such
        dead call. Raises LookupError when its body was already dropped."""
        row = self.db.execute("SELECT function, accepted_ns, body_dropped FROM calls WHERE id = ? AND phase = ?",
                              (call_id, FAILED)).fetchone()
        if row is None:
            return None
        if row[2]:
            raise LookupError("its body was dropped")
        self.db.execute("UPDATE calls SET phase = ?, attempts = 0, next_at = 0, status = NULL, result_headers = NULL, "
                        "result_body = NULL, duration_s = NULL, reason = NULL, failed_at = NULL WHERE id = ?",
                        (INVOKE, call_id))
        return PendingEntry(call_id, row[0], row[1], INVOKE, 0.0)

    def prune(self, now: float, retention_s: float, keep: int) -> int:
        """Drop the bodies of dead calls older than `retention_s`, and every dead call past
        the newest `keep` (row and all). Returns the rows touched."""
        dropped = self.db.execute("UPDATE calls SET body = x'', body_dropped = 1 WHERE phase = ? AND body_dropped = 0 "
                                  "AND failed_at < ?", (FAILED, now - retention_s)).rowcount
        deleted = self.db.execute("DELETE FROM calls WHERE phase = ? AND id NOT IN (SELECT id FROM calls WHERE "
                                  "phase = ? ORDER BY id DESC LIMIT ?)", (FAILED, FAILED, keep)).rowcount
        return dropped + deleted

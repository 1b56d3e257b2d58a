"""Per-function logs: one ndjson file per function, records shaped like OpenFaaS's.

A record is `{"name", "namespace", "instance", "timestamp", "text"}` (faas-provider's
logs.Message); `GET /system/logs` returns them one per line. The runtime's own reports
about a function (started, ready, crashed, unschedulable) go in the same log with the
instance `faasml`, so `faas-cli logs` shows why a replica is missing.

Bounded: a log rotates past `max_bytes` (`<name>.<namespace>.log.1` ... `.log.<backups>`,
the oldest dropped), and `read` streams the files, keeping at most `tail` (or
`MAX_RECORDS`) records in memory, never a whole file.
"""
from __future__ import annotations

import collections
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, TextIO

from faasml.runtime.names import path_part

RUNTIME_INSTANCE = "faasml"
MAX_BYTES = 10 * 1024 * 1024   # per file, before it rotates
BACKUPS = 2                    # rotated files kept
MAX_RECORDS = 10_000           # records one read returns at most (its newest)
LogRecord = dict[str, str]
Subscriber = Callable[[LogRecord], None]


def rfc3339(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_rfc3339(text: str) -> float:
    """Epoch seconds of an RFC 3339 time (`Z` or an offset; nanoseconds trimmed)."""
    text = text.strip().replace("Z", "+00:00")
    if "." in text:  # Python takes at most 6 fractional digits; Go writes up to 9
        head, rest = text.split(".", 1)
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:min(digits, 6)]}{rest[digits:]}"
    return datetime.fromisoformat(text).timestamp()


class LogStore:
    def __init__(self, folder: Path, clock: Callable[[], float] = time.time, max_bytes: int = MAX_BYTES,
                 backups: int = BACKUPS):
        self.folder = folder
        self.clock = clock
        self.max_bytes, self.backups = max_bytes, backups
        self._files: dict[tuple[str, str], TextIO] = {}
        self._subscribers: dict[tuple[str, str], list[Subscriber]] = {}
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, name: str, namespace: str) -> Path:
        return self.folder / f"{path_part(name, 'function name')}.{path_part(namespace, 'namespace')}.log"

    def has(self, name: str, namespace: str) -> bool:
        return self.path(name, namespace).is_file()

    def append(self, name: str, namespace: str, instance: str, text: str) -> LogRecord:
        record = {"name": name, "namespace": namespace, "instance": instance,
                  "timestamp": rfc3339(self.clock()), "text": text}
        key = (name, namespace)
        handle = self._files.get(key)
        if handle is None:
            handle = self._files[key] = open(self.path(name, namespace), "a", buffering=1)
        handle.write(json.dumps(record) + "\n")
        if handle.tell() > self.max_bytes:
            self._rotate(key, handle)
        for subscriber in list(self._subscribers.get(key, ())):
            subscriber(record)
        return record

    def _rotate(self, key: tuple[str, str], handle: TextIO) -> None:
        handle.close()
        del self._files[key]
        path = self.path(*key)
        for index in range(self.backups, 0, -1):
            older = path.with_name(f"{path.name}.{index}")
            newer = path.with_name(f"{path.name}.{index - 1}") if index > 1 else path
            if newer.exists():
                os.replace(newer, older)
        if self.backups == 0:
            path.unlink(missing_ok=True)

    def read(self, name: str, namespace: str, instance: str | None = None,
             since_s: float | None = None, tail: int | None = None) -> list[LogRecord]:
        """Stored records, oldest first; `tail` keeps the last N after filtering (at most
        MAX_RECORDS either way: only that many are ever held)."""
        keep = MAX_RECORDS if tail is None or tail < 0 else min(tail, MAX_RECORDS)
        records: collections.deque[LogRecord] = collections.deque(maxlen=keep)
        if keep == 0:
            return []
        for record in self._records(name, namespace):
            if (instance is None or record.get("instance") == instance) and (
                    since_s is None or parse_rfc3339(record["timestamp"]) >= since_s):
                records.append(record)
        return list(records)

    def _records(self, name: str, namespace: str) -> Iterator[LogRecord]:
        path = self.path(name, namespace)
        rotated = [path.with_name(f"{path.name}.{i}") for i in range(self.backups, 0, -1)]
        for file in [*rotated, path]:   # oldest first
            if not file.is_file():
                continue
            with open(file) as handle:
                for line in handle:
                    try:
                        yield json.loads(line)
                    except ValueError:  # a line cut by a crash of the runtime itself
                        continue

    def subscribe(self, name: str, namespace: str, subscriber: Subscriber) -> Callable[[], None]:
        """Call `subscriber` with every new record; returns the function that stops it."""
        subscribers = self._subscribers.setdefault((name, namespace), [])
        subscribers.append(subscriber)
        return lambda: subscribers.remove(subscriber) if subscriber in subscribers else None

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()

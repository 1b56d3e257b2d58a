"""Per-function logs: one ndjson file per function, records shaped like OpenFaaS's.

A record is `{"name", "namespace", "instance", "timestamp", "text"}` (faas-provider's
logs.Message); `GET /system/logs` returns them one per line. The runtime's own reports
about a function (started, ready, crashed, unschedulable) go in the same log with the
instance `faasml`, so `faas-cli logs` shows why a replica is missing.
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, TextIO

RUNTIME_INSTANCE = "faasml"
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
    def __init__(self, folder: Path, clock: Callable[[], float] = time.time):
        self.folder = folder
        self.clock = clock
        self._files: dict[tuple[str, str], TextIO] = {}
        self._subscribers: dict[tuple[str, str], list[Subscriber]] = {}
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, name: str, namespace: str) -> Path:
        return self.folder / f"{name}.{namespace}.log"

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
        for subscriber in list(self._subscribers.get(key, ())):
            subscriber(record)
        return record

    def read(self, name: str, namespace: str, instance: str | None = None,
             since_s: float | None = None, tail: int | None = None) -> list[LogRecord]:
        """Stored records, oldest first; `tail` keeps the last N after filtering."""
        records = [r for r in self._records(name, namespace)
                   if (instance is None or r.get("instance") == instance)
                   and (since_s is None or parse_rfc3339(r["timestamp"]) >= since_s)]
        return records[-tail:] if tail is not None and tail >= 0 else records

    def _records(self, name: str, namespace: str) -> Iterator[LogRecord]:
        path = self.path(name, namespace)
        if not path.is_file():
            return
        with open(path) as handle:
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

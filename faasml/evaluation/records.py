"""The per-request records of a run on disk: one gzipped JSON-lines file per run
(scenario, load, policy, round), written by the runner and read again by the report's plots."""
from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Sequence

from faasml.evaluation.loadgen import Record


def write_records(path: Path, records: Sequence[Record]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for r in records:
            handle.write(json.dumps(r.to_row(), separators=(",", ":")) + "\n")


def read_records(path: Path) -> list[Record]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [Record(**json.loads(line)) for line in handle if line.strip()]


def cell_file(scenario: str, load: float, policy: str, repeat: int = 0) -> str:
    """One file per run: scenario, load, policy and round (from 1)."""
    return f"records/{scenario}-{round(load * 100):03d}-{policy}-r{repeat + 1}.jsonl.gz"

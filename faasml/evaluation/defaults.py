"""Defaults the command line shows in --help, kept free of heavy imports."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_POLICIES = ("tradeoff", "weighted-bucket", "random", "slo-greedy")
QUICK_POLICIES = ("tradeoff", "weighted-bucket", "random")
DEFAULT_DATA = REPO / ".." / "shared" / "data" / "imagenet-sample"

"""What tests/edge reads: the edge/ folder, its pinned versions and stack.yml."""
from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
EDGE = ROOT / "edge"


def pinned_versions() -> dict[str, str]:
    """edge/versions.env as a dict (plain KEY=VALUE lines, comments ignored)."""
    versions = {}
    for line in (EDGE / "versions.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            versions[key] = value
    return versions


def kubernetes_documents() -> list[tuple[str, dict]]:
    """Every Kubernetes object under edge/: (file:index, object). Helm values files and
    the local nodes file are not Kubernetes objects."""
    found = []
    for path in sorted(EDGE.rglob("*.yaml")):
        if "values" in path.name:
            continue
        for index, document in enumerate(yaml.safe_load_all(path.read_text())):
            if document:
                found.append((f"{path.relative_to(ROOT)}:{index}", document))
    return found


def helm_values_files() -> list[Path]:
    return sorted(p for p in EDGE.rglob("*values*.yaml"))


def stack() -> dict:
    return yaml.safe_load((ROOT / "stack.yml").read_text())

"""The OpenAPI file describes what the code accepts."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from faasml.selector.engine.request import SelectionRequest
from faasml.selector.engine.policies import POLICIES
from faasml.selector.telemetry import COUNTERS

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_openapi_parameters_and_policies_match_the_code():
    spec = yaml.safe_load((DOCS / "openapi.yaml").read_text())
    parameters = spec["components"]["parameters"]
    assert set(parameters) == {f.name for f in dataclasses.fields(SelectionRequest)}
    assert parameters["policy"]["schema"]["enum"] == list(POLICIES)


def test_api_doc_names_every_policy_and_metric():
    api = (DOCS / "api.md").read_text()
    selector = (DOCS / "selector.md").read_text()
    for name in POLICIES:
        assert f"`{name}`" in api and f"`{name}`" in selector
    for metric in COUNTERS:
        assert metric in selector

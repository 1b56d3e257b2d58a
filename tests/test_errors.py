"""One set of error codes: every code the package raises is in faasml/errors.py's CODES,
and docs/api.md and docs/openapi.yaml list exactly that set."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from faasml import errors
from faasml.errors import CODES, FaasmlError, internal_error

ROOT = Path(__file__).resolve().parents[1]


def codes_raised_in_the_package() -> dict[str, set[str]]:
    """code -> files, from `code="..."` literals, `code = "..."` class attributes and
    `codes.NAME` constants anywhere under faasml/."""
    constants = {name: value for name, value in vars(errors).items() if name.isupper() and isinstance(value, str)}
    found: dict[str, set[str]] = {}
    for path in (ROOT / "faasml").rglob("*.py"):
        text = path.read_text()
        for literal in re.findall(r'\bcode\s*=\s*"([a-z0-9_]+)"', text):
            found.setdefault(literal, set()).add(str(path.relative_to(ROOT)))
        for name in re.findall(r'\bcodes\.([A-Z_]+)\b', text):
            found.setdefault(constants[name], set()).add(str(path.relative_to(ROOT)))
        # codes a module keeps as its own constant (the selector engine's NO_ROOM)
        for literal in re.findall(r'^(?:NO_ROOM|[A-Z_]+_CODE) = "([a-z0-9_]+)"', text, re.M):
            found.setdefault(literal, set()).add(str(path.relative_to(ROOT)))
        for literal in re.findall(r'\bcode = [A-Z_]+ if .* else "([a-z0-9_]+)"', text):
            found.setdefault(literal, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_code_raised_is_a_registered_code():
    unknown = {code: files for code, files in codes_raised_in_the_package().items() if code not in CODES}
    assert not unknown, f"codes not in faasml/errors.py CODES: {unknown}"


def test_the_former_synonyms_are_gone():
    raised = codes_raised_in_the_package()
    for synonym in ("invalid_parameter", "invalid_json", "body_too_large"):
        assert synonym not in raised and synonym not in CODES


def test_docs_api_lists_every_code_with_its_status():
    text = (ROOT / "docs/api.md").read_text()
    section = text.split("## Error codes (every component)", 1)[1].split("\n## ", 1)[0]
    documented = {code: int(status) for code, status in re.findall(r"^\| `([a-z0-9_]+)` \| (\d{3}) \|", section, re.M)}
    assert documented == {code: status for code, (status, _, _) in CODES.items()}


def test_openapi_enumerates_the_same_codes():
    spec = yaml.safe_load((ROOT / "docs/openapi.yaml").read_text())
    code = spec["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]
    assert code["enum"] == list(CODES)


def test_every_error_class_default_code_is_registered_with_its_status():
    for cls in FaasmlError.__subclasses__() + [FaasmlError]:
        assert cls.code in CODES and CODES[cls.code][0] == cls.status, cls


def test_an_internal_error_names_an_id_never_the_exception_text(capsys):
    error = internal_error(ValueError("secret path /etc/shadow"))
    body = error.to_json().decode()
    assert "shadow" not in body and "ValueError" not in body
    assert error.status == 500 and error.details["error_id"] in capsys.readouterr().err


def test_docs_api_names_every_server_setting_with_its_default():
    import dataclasses

    from faasml.runtime.listener import GatewayLimits
    from faasml.serving.settings import ServerSettings

    text = (ROOT / "docs/api.md").read_text()
    for cls in (ServerSettings, GatewayLimits):
        for field in dataclasses.fields(cls):
            row = next((line for line in text.splitlines()
                        if line.startswith("|") and f"`{field.metadata['env'][0]}`" in line), None)
            assert row is not None, field.metadata["env"][0]
            default = f"{field.default:g}" if isinstance(field.default, float) else str(field.default)
            assert f"| {default} |" in row, (row, default)

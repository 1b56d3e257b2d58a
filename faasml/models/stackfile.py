"""stack.yml entries written by `faasml models add`, and taken out by `models remove`.

stack.yml is a hand-written file with comments and anchors that a YAML round trip would
lose, so its text is edited, not re-serialised: the added functions go at the end of the
`functions:` mapping as one block between two marker comments naming the model, and
`remove` deletes exactly that block. The new text is parsed (YAML, then as `faasml up`
reads a stack) before it replaces the file, atomically.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faasml.models.files import atomic_path, temp_sibling

BEGIN = "  # >>> faasml models add: {name}"
END = "  # <<< faasml models add: {name}"


class StackError(ValueError):
    """The stack file cannot take (or give back) these functions."""


@dataclass(frozen=True)
class Entry:
    """One executor function of an added model."""

    function: str
    card: str                    # FAASML_MODEL, relative to the stack's folder
    precision: str
    node_class: str
    annotations: dict[str, str]
    provider: str = "cpu"
    memory_mi: int = 256
    scale_max: int = 2


def _q(value: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is valid YAML)."""
    return json.dumps(str(value))


def render(model: str, entries: list[Entry]) -> str:
    """The block for `model`'s functions, markers included, in the reference entries' layout."""
    lines = [BEGIN.format(name=model) + f" (remove with `faasml models remove {model}`)"]
    for e in entries:
        gpu = e.provider == "cuda"
        variant = e.card.rsplit("/", 1)[-1].removesuffix(".card.json")
        lines += [
            f"  {e.function}:",
            f"    lang: faasml-python3-http{'-gpu' if gpu else ''}",
            "    handler: ./functions/executors",
            "    build_args:",
            f"      FAASML_VARIANT: {variant}",
            f"    image: ${{FAASML_REGISTRY:-localhost/faasml}}/executor-{e.function}:0.1.0",
            "    environment:",
            f"      FAASML_MODEL: {e.card}",
            f"      FAASML_PROVIDER: {e.provider}",
            f"      FAASML_INTRA_OP_THREADS: {_q('0' if gpu else '1')}",
            f"      FAASML_SERVER_THREADS: {_q('1')}",
            "      ready_path: /ready",
            f"      max_inflight: {_q('32')}",
            "      exec_timeout: 30s",
            "      write_timeout: 30s",
            "      read_timeout: 30s",
            "    labels:",
            "      faasml.io/role: executor",
            f"      com.openfaas.scale.min: {_q('1')}",
            f"      com.openfaas.scale.max: {_q(str(e.scale_max))}",
            f"      faasml.io/node-class: {e.node_class}",
            "    annotations:",
            *[f"      {k}: {_q(v)}" for k, v in e.annotations.items()],
            *(["      com.openfaas.profile: faasml-gpu"] if gpu else []),
            "    # memory: an estimate (model file x3 + 160 MiB); measure with `faasml bench memory`",
            "    requests:",
            "      cpu: 1000m",
            f"      memory: {e.memory_mi}Mi",
            "    limits:",
            f"      memory: {e.memory_mi * 2}Mi",
            "    constraints:",
            f"      - faasml.io/node-class={e.node_class}",
        ]
    lines.append(END.format(name=model))
    return "\n".join(lines) + "\n"


def _functions_span(lines: list[str]) -> tuple[int, int]:
    """(index of `functions:`, index just past the mapping's last line)."""
    start = next((i for i, l in enumerate(lines) if re.match(r"^functions:\s*(#.*)?$", l)), None)
    if start is None:
        raise StackError("the stack file has no top-level `functions:` mapping")
    end = len(lines)
    for i in range(start + 1, len(lines)):
        if lines[i] and not lines[i].startswith((" ", "#", "\t")):
            end = i
            break
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1   # trailing blank lines stay after the block
    return start, end


def functions_of(text: str) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise StackError(f"the stack file is not valid YAML: {str(exc).splitlines()[0]}") from None
    return dict(data.get("functions") or {})


def check_free(text: str, model: str, functions: list[str]) -> None:
    """Refuse function names the stack already has, and a second block for `model`."""
    taken = sorted(set(functions) & set(functions_of(text)))
    if taken:
        raise StackError(f"the stack already has function(s) {', '.join(taken)} "
                         f"(`faasml models remove {model}` first, or pick another --name)")
    if BEGIN.format(name=model) in text:
        raise StackError(f"the stack already has a block for {model!r}")


def with_block(text: str, model: str, block: str) -> str:
    """`text` with `block` appended to its functions; refuses a name already there."""
    existing = functions_of(text)
    check_free(text, model, list(functions_of("functions:\n" + block)))
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    _, end = _functions_span([l.rstrip("\n") for l in lines])
    new = "".join(lines[:end]) + "\n" + block + "".join(lines[end:])
    added = set(functions_of(new)) - set(existing)
    if added != set(functions_of("functions:\n" + block)):
        raise StackError("the added block did not parse as the intended functions")
    return new


def without_block(text: str, model: str) -> tuple[str, list[str]]:
    """`text` less `model`'s block (and the blank line before it); the functions removed."""
    lines = text.splitlines(keepends=True)
    begin = next((i for i, l in enumerate(lines) if l.startswith(BEGIN.format(name=model))), None)
    end = next((i for i, l in enumerate(lines) if l.rstrip("\n") == END.format(name=model)), None)
    if begin is None or end is None or end < begin:
        raise StackError(f"no `faasml models add` block for {model!r} in the stack file")
    removed = list(functions_of("functions:\n" + "".join(lines[begin:end + 1])))
    if begin > 0 and not lines[begin - 1].strip():
        begin -= 1
    return "".join(lines[:begin] + lines[end + 1:]), removed


def added_models(text: str) -> list[str]:
    marker = BEGIN.format(name="")
    return [l[len(marker):].split(" (")[0].strip() for l in text.splitlines() if l.startswith(marker)]


def check_loadable(text: str, folder: Path) -> None:
    """The runtime's own reading of the stack must accept the new text (read beside the
    real file, so relative paths resolve as they will)."""
    from faasml.runtime.stack import load_stack

    probe = temp_sibling(folder / "stack-check.yml")
    try:
        probe.write_text(text, encoding="utf-8")
        load_stack(probe)
    except Exception as exc:  # noqa: BLE001 - whatever the runtime refuses, we refuse
        raise StackError(f"the new stack would not load: {exc}") from None
    finally:
        probe.unlink(missing_ok=True)


def write(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")

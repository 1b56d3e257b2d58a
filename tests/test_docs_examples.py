"""Examples in README.md and docs/ run as written from the repository root: each input file
they name exists (or is one `make run` writes), faasml is called from the virtual
environment (a bare `python -m faasml` needs the venv activated), and no password is on a
command line. tests/test_readme.py runs the Quickstart itself."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
WRITTEN_BY_MAKE_RUN = {".faasml/basic-auth-password"}
# An input file: curl's @file, a shell redirection, Python's open("file").
INPUT = re.compile(r"""(?:--data-binary\s+@|-d\s+@|-F\s+\w+=@|(?<![<\w])<\s+|open\(["'])([\w./~$<>{}-]+)""")


SHELL = ("bash", "sh", "shell", "console")


def code_of(doc: Path, languages: tuple[str, ...] | None = None) -> list[str]:
    """Fenced blocks (of these languages only, when given) and, without languages, inline
    code spans too."""
    text = doc.read_text()
    fenced = [code for language, code in re.findall(r"```([\w-]*)\n(.*?)```", text, re.S)
              if languages is None or language in languages]
    if languages is not None:
        return fenced
    return fenced + re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))


def placeholder(path: str) -> bool:
    """A name standing for the reader's own file (FILE, file, <path>, ~/..., $VAR)."""
    return (path.startswith(("~", "/", "$")) or any(c in path for c in "<>{}") or path.isupper()
            or path in ("file", "password-file"))


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.relative_to(ROOT).as_posix())
def test_every_input_file_named_exists_from_the_repository_root(doc):
    missing = sorted({path for code in code_of(doc) for path in INPUT.findall(code)
                      if not placeholder(path) and path not in WRITTEN_BY_MAKE_RUN and not (ROOT / path).exists()})
    assert not missing, f"{doc.name} names files a fresh clone lacks: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.relative_to(ROOT).as_posix())
def test_faasml_runs_from_the_virtual_environment_without_a_password_argument(doc):
    for code in code_of(doc):
        for line in code.splitlines():
            assert not re.search(r"(?<![\w/.])python3? -m faasml\b", line), f"{doc.name}: {line}"
            assert not re.search(r"faasml \w+.*--password[ =]", line), f"{doc.name}: {line}"
    for code in code_of(doc, SHELL):     # commands to type, not names in prose
        for line in code.splitlines():
            assert not re.match(r"\s*faasml [a-z]", line), f"{doc.name}: {line} (use .venv/bin/faasml)"


def test_the_sample_photo_is_what_the_examples_say():
    from PIL import Image

    with Image.open(ROOT / "samples" / "cat.jpg") as photo:
        assert photo.format == "JPEG" and photo.size == (451, 300)
    licence = (ROOT / "samples" / "README.md").read_text()
    assert "CC0" in licence and "cat.jpg" in licence

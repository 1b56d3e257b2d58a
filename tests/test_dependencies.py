"""Dependencies by role (pyproject.toml's extras): every module imports only what its
role declares, and each function's process imports nothing of another role's.

- statically: every import in faasml/, the function handlers and the templates' servers
  (lazy ones inside functions included; an import guarded by `except ImportError` is
  optional and left out) resolves to a distribution its role's extra declares;
- in a real process: the executor's and the selector's template server with their
  handler import no module of the other's role, nor transformers, aiohttp or requests.
The function images install exactly these extras (the templates' Dockerfiles read them):
tests/images checks what a built image holds.
"""
from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS = PROJECT["optional-dependencies"]
TEMPLATE = ROOT / "templates" / "faasml-python3-http"

# Which extra each part of the code runs under, most specific path first.
ROLES = (
    ("faasml/serving/", "server"), ("faasml/upstream.py", "server"), ("faasml/http.py", "server"),
    ("faasml/executor/", "executor"), ("functions/executors/", "executor"),
    ("faasml/selector/", "selector"), ("functions/selector/", "selector"),
    ("templates/", "server"),
    ("faasml/client/", "client"),
    ("faasml/runtime/", "up"), ("faasml/images/", "up"),
    ("faasml/bench/", "bench"), ("faasml/profiling/", "bench"), ("faasml/deployment/", "bench"),
    ("faasml/launch.py", "bench"),   # a throw-away `faasml up` for the benchmarks, evaluation and tests
    ("faasml/evaluation/", "evaluate"),
    ("faasml/simulation/", "evaluate"),   # `faasml bench simulate`: the evaluation's scenarios, metrics and bound
    ("faasml/models/", "build"),
    ("faasml/", None),   # the shared modules and the CLI's entry: the standard library only
)


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    return normalized(re.match(r"\s*([A-Za-z0-9_.-]+)", requirement).group(1))


def declared(extra: str | None) -> set[str]:
    """Distributions an extra brings, its references to other extras (faasml[a,b]) followed."""
    names = {requirement_name(r) for r in PROJECT["dependencies"]}
    pending, seen = [extra] if extra else [], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for requirement in EXTRAS[current]:
            inner = re.match(r"\s*faasml\[([^\]]+)\]", requirement)
            if inner:
                pending += [e.strip() for e in inner.group(1).split(",")]
            else:
                names.add(requirement_name(requirement))
    return names


def role_of(path: Path) -> str | None:
    relative = path.relative_to(ROOT).as_posix()
    return next(role for prefix, role in ROLES if relative.startswith(prefix))


def optional_imports(tree: ast.AST) -> set[int]:
    """Line numbers of imports inside a `try` whose handler catches ImportError."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
                for h in node.handlers):
            for inner in node.body:
                lines |= {n.lineno for n in ast.walk(inner) if isinstance(n, (ast.Import, ast.ImportFrom))}
    return lines


def third_party_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    optional = optional_imports(tree)
    names = set()
    for node in ast.walk(tree):
        if node.lineno in optional if hasattr(node, "lineno") else False:
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    local = {"faasml", "handler", "tests"}
    return {n for n in names if n not in sys.stdlib_module_names and n not in local}


def sources() -> list[Path]:
    return sorted([*(ROOT / "faasml").rglob("*.py"), *(ROOT / "functions").glob("*/handler.py"),
                   *(ROOT / "templates").glob("*/index.py")])


def test_the_roles_map_covers_every_extra_that_code_runs_under():
    assert {role for _, role in ROLES if role} <= set(EXTRAS)
    assert PROJECT["dependencies"] == [], "a role's needs belong in its extra, not in every install"


def test_every_import_is_declared_by_its_roles_extra():
    distributions = {name: {normalized(d) for d in dists}
                     for name, dists in importlib.metadata.packages_distributions().items()}
    undeclared = []
    for path in sources():
        role = role_of(path)
        allowed = declared(role)
        for module in sorted(third_party_imports(path)):
            providers = distributions.get(module)
            assert providers, f"{path.relative_to(ROOT)} imports {module}, which no installed distribution provides"
            if not providers & allowed:
                undeclared.append(f"{path.relative_to(ROOT)} ({role or 'core'}): {module} from "
                                  f"{'/'.join(sorted(providers))}")
    assert not undeclared, "imports missing from their role's extra:\n" + "\n".join(undeclared)


def test_the_function_roles_leave_out_what_they_must_not_carry():
    executor, selector = declared("executor") | declared("server"), declared("selector") | declared("server")
    assert not executor & {"transformers", "aiohttp", "requests", "torch"}, executor
    assert not selector & {"onnxruntime", "onnxruntime-gpu", "opencv-python-headless", "pillow",
                           "simplejpeg", "tokenizers", "transformers", "aiohttp"}, selector
    assert "transformers" in declared("build") and "transformers" not in declared("up")


def test_the_template_server_requirements_are_the_server_extra():
    """The template's requirements.txt (for users of the template alone) and the `server`
    extra (for faasml's images and `faasml up`) name the same server packages."""
    listed = {requirement_name(line) for line in (TEMPLATE / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.lstrip().startswith("#")}
    assert listed <= declared("server")


PROBE = """
import importlib, importlib.util, json, os, sys
spec = importlib.util.spec_from_file_location("index", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
# What index.py's main() loads before it serves: the handler and the server.
sys.path.insert(0, os.path.join(os.path.dirname(sys.argv[1]), "function"))
importlib.import_module("handler")
importlib.import_module("faasml.serving.app")
importlib.import_module("faasml.serving.server")
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def loaded_by_function(tmp_path: Path, handler_folder: Path) -> set[str]:
    """Top-level modules a function's process has imported once its template server
    and handler are loaded (what runs before the first request)."""
    (tmp_path / "index.py").write_bytes((TEMPLATE / "index.py").read_bytes())
    shutil.copytree(handler_folder, tmp_path / "function")
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "index.py")], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize("function, forbidden", [
    ("executors", {"transformers", "torch", "aiohttp", "requests", "yaml", "urllib3"}),
    ("selector", {"onnxruntime", "cv2", "PIL", "simplejpeg", "tokenizers", "transformers", "torch",
                  "aiohttp", "requests", "yaml"}),
])
def test_a_function_process_imports_nothing_of_another_role(tmp_path, function, forbidden):
    loaded = loaded_by_function(tmp_path, ROOT / "functions" / function)
    assert "handler" in loaded and "faasml" in loaded
    assert not loaded & forbidden, loaded & forbidden


def test_the_command_line_starts_on_the_standard_library_alone():
    """`faasml --help` (every command's parser) imports no third-party module: a command
    imports what its role needs when it runs, so one extra's absence breaks only its own."""
    code = ("import json, sys; import faasml.cli; faasml.cli.build_parser(); "
            "print(json.dumps(sorted({n.split('.')[0] for n in sys.modules})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = {n for n in json.loads(done.stdout) if not n.startswith("_")}
    site = {n for n in loaded - set(sys.stdlib_module_names) - {"faasml"}
            if importlib.metadata.packages_distributions().get(n)}
    assert not site, site

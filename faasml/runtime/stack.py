"""Reading an OpenFaaS stack.yml (faas-cli `version: 1.0`) into what `faasml up` runs.

The same file faas-cli deploys: functions with `lang`, `handler`, `image`, `environment`,
`environment_file`, `labels`, `annotations`, `constraints`, `namespace`. `${VAR}` and
`${VAR:-default}` are substituted from the environment as faas-cli does. Each function
whose template and handler folder exist here becomes a `LocalSource`: what to run, so
that a deploy of the same image through the API can start it too.
"""
from __future__ import annotations

import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from faasml import errors as codes
from faasml.errors import BadRequest

DEFAULT_NAMESPACE = "openfaas-fn"
# Where a function's `lang` is looked up, in order, under the stack's folder (and then
# under the faasml checkout, so stacks written elsewhere, e.g. by tests, find them too).
TEMPLATE_FOLDERS = ("templates", "template")
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class StackError(BadRequest):
    """400: the stack file is unreadable or malformed."""

    code = codes.BAD_STACK


@dataclass(frozen=True)
class LocalSource:
    """How to run a function here: the template entrypoint with the handler as `function/`."""

    lang: str
    template_dir: Path
    handler_dir: Path
    fprocess: tuple[str, ...]

    def command(self, run_dir: Path) -> list[str]:
        """The fprocess with `python` as this interpreter and files resolved in `run_dir`."""
        argv = list(self.fprocess)
        if argv and Path(argv[0]).name.startswith("python"):
            argv[0] = sys.executable
        return [str(run_dir / a) if (self.template_dir / a).is_file() else a for a in argv]


@dataclass
class FunctionSpec:
    """One function as OpenFaaS describes it (the deploy body, less what is image-only)."""

    name: str
    image: str
    namespace: str = DEFAULT_NAMESPACE
    environment: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    constraints: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    env_process: str = ""
    limits: dict[str, str] | None = None
    requests: dict[str, str] | None = None
    read_only_root_filesystem: bool = False

    @property
    def qualified_name(self) -> str:
        """`name.namespace`, the gateway's `function_name` metric label."""
        return f"{self.name}.{self.namespace}"

    @property
    def min_replicas(self) -> int:
        """`com.openfaas.scale.min` (default 1), as faas-netes reads it at deploy."""
        raw = self.labels.get("com.openfaas.scale.min", "")
        return int(raw) if raw.isdigit() and int(raw) > 0 else 1

    @property
    def ready_path(self) -> str | None:
        """of-watchdog's `ready_path`: the replica is ready only when it answers 200."""
        path = self.environment.get("ready_path", "").strip()
        if not path:
            return None
        return path if path.startswith("/") else "/" + path


@dataclass
class Stack:
    """The functions of one stack.yml, and which image maps to which local handler."""

    path: Path
    functions: dict[str, FunctionSpec]
    sources: dict[str, LocalSource]  # function name -> source
    problems: dict[str, str]  # function name -> why it cannot run locally

    @property
    def folder(self) -> Path:
        return self.path.parent

    def source_for_image(self, image: str) -> LocalSource | None:
        """The local handler built into `image` by this stack, if any."""
        wanted = normalize_image(image)
        for name, spec in self.functions.items():
            if name in self.sources and normalize_image(spec.image) == wanted:
                return self.sources[name]
        return None

    def known_images(self) -> list[str]:
        return sorted({self.functions[n].image for n in self.sources})


def normalize_image(image: str) -> str:
    """Treat `docker.io/library/x:latest`, `docker.io/x` and `x` as the same image."""
    image = image.strip()
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/"):
        if image.startswith(prefix):
            image = image[len(prefix):]
    last = image.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in last:
        image += ":latest"
    return image


def substitute_env(text: str, env: Mapping[str, str]) -> str:
    """faas-cli's envsubst: `${VAR}` and `${VAR:-default}`."""
    return _ENV_REFERENCE.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), text)


def load_stack(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Stack:
    path = Path(path).resolve()
    try:
        text = substitute_env(path.read_text(), os.environ if env is None else env)
        document = yaml.safe_load(text) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise StackError(f"cannot read stack file {path}: {exc}") from exc
    if not isinstance(document, dict) or "functions" not in document:
        raise StackError(f"{path}: no `functions:` map")
    if document["functions"] is None:  # `functions:` with nothing under it: an empty provider
        document["functions"] = {}
    if not isinstance(document["functions"], dict):
        raise StackError(f"{path}: no `functions:` map (a map of function names)")
    provider = (document.get("provider") or {}).get("name")
    if provider not in (None, "openfaas"):
        raise StackError(f"{path}: provider.name must be `openfaas`, not {provider!r}")
    stack = Stack(path=path, functions={}, sources={}, problems={})
    for name, entry in document["functions"].items():
        entry = entry or {}
        spec = _spec_from_entry(str(name), entry, path.parent)
        stack.functions[spec.name] = spec
        try:
            stack.sources[spec.name] = _source_from_entry(entry, path.parent)
        except StackError as exc:
            stack.problems[spec.name] = exc.message
    return stack


def empty_stack(path: str | os.PathLike[str]) -> Stack:
    """The stack at `path` when no file is there (`faasml up --empty`): no functions, no handlers."""
    return Stack(path=Path(path).resolve(), functions={}, sources={}, problems={})


def _strings(mapping: Any) -> dict[str, str]:
    return {str(k): "" if v is None else str(v) for k, v in (mapping or {}).items()}


def _spec_from_entry(name: str, entry: dict[str, Any], folder: Path) -> FunctionSpec:
    environment = _strings(entry.get("environment"))
    files = entry.get("environment_file") or []
    for file_name in [files] if isinstance(files, str) else files:
        environment.update(_read_environment_file(folder / file_name))  # later files win
    return FunctionSpec(
        name=name,
        image=str(entry.get("image") or ""),
        namespace=str(entry.get("namespace") or DEFAULT_NAMESPACE),
        environment=environment,
        labels=_strings(entry.get("labels")),
        annotations=_strings(entry.get("annotations")),
        constraints=[str(c) for c in entry.get("constraints") or []],
        secrets=[str(s) for s in entry.get("secrets") or []],
        env_process=str(entry.get("fprocess") or ""),
        limits=_strings(entry.get("limits")) or None,
        requests=_strings(entry.get("requests")) or None,
        read_only_root_filesystem=bool(entry.get("readonly_root_filesystem", False)),
    )


def _read_environment_file(path: Path) -> dict[str, str]:
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise StackError(f"cannot read environment_file {path}: {exc}") from exc
    return _strings(document.get("environment"))


def find_template(lang: str, folder: Path) -> Path | None:
    """`templates/<lang>` (or faas-cli's `template/<lang>`) beside the stack, else in the
    working directory (a generated stack elsewhere, run from a checkout)."""
    for base in (folder, Path.cwd()):
        for sub in TEMPLATE_FOLDERS:
            candidate = base / sub / lang
            if (candidate / "index.py").is_file() or (candidate / "template.yml").is_file():
                return candidate
    return None


def _source_from_entry(entry: dict[str, Any], folder: Path) -> LocalSource:
    lang, handler = entry.get("lang"), entry.get("handler")
    if not lang or not handler:
        raise StackError("needs `lang` and `handler` to run locally")
    template_dir = find_template(str(lang), folder)
    if template_dir is None:
        raise StackError(f"template {lang!r} not found in templates/ or template/")
    handler_dir = (folder / str(handler)).resolve()
    if not handler_dir.is_dir():
        raise StackError(f"handler folder {handler_dir} does not exist")
    fprocess = entry.get("fprocess") or _template_fprocess(template_dir)
    return LocalSource(str(lang), template_dir, handler_dir, tuple(shlex.split(fprocess)))


def _template_fprocess(template_dir: Path) -> str:
    try:
        document = yaml.safe_load((template_dir / "template.yml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        document = {}
    return str(document.get("fprocess") or "python index.py")

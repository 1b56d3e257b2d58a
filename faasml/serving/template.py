"""What every template's index.py runs: load the handler, read the settings, serve.

The shims (templates/*/index.py) are generated from SHIM below (`python -m
faasml.serving.template --write templates`); a test keeps them equal to it. The code they
run lives here, in the faasml package that stack.yml's `configuration.copy` puts beside
the handler, so a fix reaches every template at once.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

from faasml.serving.settings import DEFAULT_MAX_BODY_BYTES, Limits, ServerSettings
from faasml.settings import load_or_exit

SHIM = '''"""Template entrypoint: serves `function/handler.py:handle(event, context)` over HTTP.

Generated from faasml/serving/template.py (`python -m faasml.serving.template --write
templates`): edit it there. It runs behind of-watchdog inside the container
(127.0.0.1:5000, of-watchdog's `upstream_url`) and as a plain process under `faasml up`
(FAASML_LISTEN_PORT). A handler may define `start()` (run once, before serving) and
`max_body_bytes` (its body limit, unless FAASML_SERVER_MAX_BODY names one); a coroutine
`handle` is served on the event loop, a plain one on FAASML_SERVER_THREADS threads.
Settings and limits: docs/api.md ("The function server").
"""
import os
import sys

FUNCTION = os.path.join(os.path.dirname(os.path.abspath(__file__)), "function")
sys.path.insert(0, FUNCTION)

from faasml.serving.template import main  # noqa: E402  (faasml is copied into function/)

if __name__ == "__main__":
    main(FUNCTION)
'''


def declared_body_limit(handler: Any) -> int | None:
    """The handler's own body limit, when it names one (a number, or a function of none)."""
    limit = getattr(handler, "max_body_bytes", None)
    if callable(limit):
        limit = limit()
    return int(limit) if isinstance(limit, int) and limit > 0 else None


def main(function_dir: str) -> None:
    if function_dir not in sys.path:
        sys.path.insert(0, function_dir)
    settings = load_or_exit(ServerSettings, "index.py")
    handler = importlib.import_module("handler")
    if hasattr(handler, "start"):
        handler.start()
    from faasml.serving.app import FunctionApp
    from faasml.serving.server import serve

    max_body = settings.max_body_bytes or declared_body_limit(handler) or DEFAULT_MAX_BODY_BYTES
    app = FunctionApp(handler.handle, max_body, settings.threads)
    serve(app, settings.host, settings.port, Limits.of(settings), settings.backlog)


def write_shims(templates: Path) -> list[Path]:
    written = []
    for template in sorted(p for p in templates.iterdir() if (p / "template.yml").is_file()):
        (template / "index.py").write_text(SHIM)
        written.append(template / "index.py")
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="write every template's index.py shim")
    parser.add_argument("--write", metavar="TEMPLATES", required=True, help="the templates/ folder")
    for path in write_shims(Path(parser.parse_args().write)):
        print(f"wrote {path}")

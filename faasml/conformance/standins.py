"""Local stand-ins for the two images OpenFaaS's conformance suite deploys.

The suite deploys `functions/alpine:latest` (the classic watchdog, `fprocess` taken from
the deployment: `env`, `sha512sum`, `cat ...`) and `theaxer/redirector:latest` (answers
302 to its `destination` variable, of-watchdog in http mode), both from Docker Hub. No
registry is reachable here, so both are built from the local Debian base image
(faasml.images.bases) and the stock watchdog binaries, and tagged with exactly the names
the suite deploys (`docker.io/...`), laid out as the originals are: a non-root user `app`
(uid 10001, as the project's templates), /home/app the working folder, port 8080. Each image carries a digest of what it was built
from (a label), so it is rebuilt only when that changes.
"""
from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from faasml.images.bases import ensure_base_image
from faasml.images.engine import EngineError, Podman
from faasml.images.tools import OF_WATCHDOG, find_tool, missing_reason

CLASSIC_WATCHDOG = ("CLASSIC_WATCHDOG", "classic-watchdog")
DIGEST_LABEL = "io.faasml.standin-digest"
REGISTRY = "docker.io"   # the suite's default -registryPrefix

# As openfaas/faas's AlpineFunction Dockerfile, on the Debian base: the classic watchdog
# forks `fprocess` (default `cat`) per request, as the non-root user `app`. No HEALTHCHECK:
# podman runs one only through systemd timers, and `faasml up` probes /_/health itself.
ALPINE_CONTAINERFILE = """\
FROM {base}
COPY fwatchdog /usr/bin/fwatchdog
RUN useradd --uid 10001 --create-home --home-dir /home/app --shell /usr/sbin/nologin app
WORKDIR /home/app
USER 10001
ENV fprocess="cat" write_debug="false"
EXPOSE 8080
CMD ["fwatchdog"]
"""

# As the golang-middleware template builds the suite's redirector: of-watchdog in http
# mode in front of `./handler` on 127.0.0.1:8082.
REDIRECTOR_CONTAINERFILE = """\
FROM {base}
COPY fwatchdog /usr/bin/fwatchdog
RUN useradd --uid 10001 --create-home --home-dir /home/app --shell /usr/sbin/nologin app
WORKDIR /home/app
COPY --chmod=0755 handler /home/app/handler
USER 10001
ENV fprocess="./handler" mode="http" upstream_url="http://127.0.0.1:8082" prefix_logs="false"
EXPOSE 8080
CMD ["fwatchdog"]
"""

# The redirector's handler: every request, whatever its method, is a 302 to $destination.
REDIRECTOR_HANDLER = '''\
#!/usr/bin/python3
"""Answers every request with 302 to $destination (default https://google.com)."""
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DESTINATION = os.environ.get("destination") or "https://google.com"


class Redirect(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def redirect(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = f'<a href="{DESTINATION}">Found</a>.\\n'.encode()
        self.send_response(302)
        self.send_header("Location", DESTINATION)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = redirect

    def log_message(self, format, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", 8082), Redirect).serve_forever()
'''


@dataclass(frozen=True)
class StandIn:
    image: str                 # the name the suite deploys, under REGISTRY
    containerfile: str
    watchdog: tuple[str, str]  # which stock watchdog: (variable, program)
    files: tuple[tuple[str, str], ...] = ()  # (name, text) beside the Containerfile


ALPINE = StandIn(f"{REGISTRY}/functions/alpine:latest", ALPINE_CONTAINERFILE, CLASSIC_WATCHDOG)
REDIRECTOR = StandIn(f"{REGISTRY}/theaxer/redirector:latest", REDIRECTOR_CONTAINERFILE, OF_WATCHDOG,
                     (("handler", REDIRECTOR_HANDLER),))
STANDINS = (ALPINE, REDIRECTOR)


def why_not_buildable() -> str | None:
    """What is missing here to build the stand-ins, or None."""
    for tool in (CLASSIC_WATCHDOG, OF_WATCHDOG):
        if find_tool(tool) is None:
            return missing_reason(tool)
    return Podman.available()


def _digest(stand_in: StandIn, base: str, binary: Path, base_id: str) -> str:
    digest = hashlib.sha256()
    for part in (stand_in.containerfile.format(base=base), base_id, *(t for f in stand_in.files for t in f)):
        digest.update(part.encode() + b"\0")
    digest.update(binary.read_bytes())
    return digest.hexdigest()[:16]


def _built_digest(podman: Podman, image: str) -> str | None:
    done = podman.run("image", "inspect", "--format", f'{{{{index .Labels "{DIGEST_LABEL}"}}}}', image,
                      check=False)
    return done.stdout.decode().strip() if done.returncode == 0 else None


def build_standins(podman: Podman, log: Callable[[str], None] = print) -> list[str]:
    """Build whichever stand-in is absent or stale; the names the suite deploys."""
    missing = why_not_buildable()
    if missing:
        raise EngineError(missing)
    base = ensure_base_image(podman, log=log)
    base_id = podman.run("image", "inspect", "--format", "{{.Id}}", base).stdout.decode().strip()
    builder = Podman(podman.conf_dir, for_builds=True)
    for stand_in in STANDINS:
        binary = Path(find_tool(stand_in.watchdog))  # type: ignore[arg-type]
        digest = _digest(stand_in, base, binary, base_id)
        if _built_digest(podman, stand_in.image) == digest:
            continue
        log(f"building stand-in {stand_in.image} from {base} and {binary}")
        with tempfile.TemporaryDirectory(prefix="faasml-standin-") as scratch:
            context = Path(scratch)
            shutil.copy2(binary, context / "fwatchdog")
            (context / "Containerfile").write_text(stand_in.containerfile.format(base=base))
            for name, text in stand_in.files:
                (context / name).write_text(text)
            builder.run("build", "--pull=never", "--label", f"{DIGEST_LABEL}={digest}",
                        "--tag", stand_in.image, "--file", str(context / "Containerfile"), str(context))
    return [s.image for s in STANDINS]

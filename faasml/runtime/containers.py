"""`faasml up --containers podman`: each replica is its function's image, run on podman.

As faasd runs OpenFaaS functions on containerd: any function image (one built by
`faas-cli build`, `make images`, or any other with a watchdog as its entrypoint:
of-watchdog, or the classic watchdog with `fprocess` from the deployment) runs with its
port 8080 published on the loopback at the replica's port, so the gateway, readiness
probe and balancer treat it exactly as a local process. A deployed image must be in
podman's local storage, or is pulled first where a registry is reachable. The
deployment's limits become the container's (memory, CPU), its secrets a read-only folder
at /var/openfaas/secrets, `readOnlyRootFilesystem` a read-only root with a writable /tmp.
The started process is this module's small wrapper around `podman run`: the
supervisor's SIGTERM becomes `podman stop` (of-watchdog would otherwise wait its whole
healthcheck_interval) and the container is removed when it ends.

Functions inside containers reach the gateway through a relay on the podman bridge's
host address: the gateway listens on the host's loopback, which a container cannot see.
"""
from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Mapping

from faasml import errors as codes
from faasml.cpu import cpu_millis
from faasml.errors import BadRequest
from faasml.function_secrets import DEFAULT_SECRETS_DIR, SECRETS_DIR_ENV
from faasml.images.engine import Podman
from faasml.runtime.nodes import Node
from faasml.runtime.openfaas import FUNCTION_LABEL
from faasml.runtime.replicas import Replica
from faasml.runtime.resources import cpu_cores, memory_bytes
from faasml.runtime.stack import FunctionSpec

ENGINES = ("podman",)
PULL_TIMEOUT_S = 600                   # a pull that long is stuck; the deploy says so
MIN_MEMORY_BYTES = 6 * 1024 * 1024     # podman refuses a smaller --memory
WATCHDOG_PORT = 8080                   # of-watchdog's port inside the image
DEFAULT_BRIDGE_GATEWAY = "10.88.0.1"   # podman's default network, when it cannot be read
STOP_GRACE_S = 2                       # `podman stop --time`: then SIGKILL
LABEL = "faasml.io/up"                 # on every container `faasml up` starts
ANNOTATION_PREFIX = "com.openfaas.annotations."  # annotations as container labels, as faasd
_IP_FREEBIND = 15                      # Linux: bind an address before its interface is up
_RELAY_CHUNK = 65536


class ContainerError(BadRequest):
    """400: containers were asked for but cannot run here."""

    code = codes.CONTAINERS_UNAVAILABLE


class ImageUnavailable(BadRequest):
    """400: a deployed image is neither in local storage nor pullable."""

    code = codes.IMAGE_NOT_FOUND


def qualified_image(image: str) -> str:
    """The full reference Docker and containerd (hence faasd) read a short name as:
    `functions/alpine` -> `docker.io/functions/alpine:latest`, `alpine` ->
    `docker.io/library/alpine:latest`; a name with a registry host stays as it is."""
    image = image.strip()
    first, slash, _ = image.partition("/")
    if not slash or not ("." in first or ":" in first or first == "localhost"):
        image = f"docker.io/{image}" if slash else f"docker.io/library/{image}"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in last:
        image += ":latest"
    return image


def memory_limit(limits: Mapping[str, str] | None) -> int | None:
    """`limits.memory` in bytes for `--memory`, at least podman's minimum (a smaller limit,
    which Kubernetes would accept, is raised to it: the container may still be OOM-killed)."""
    raw = (limits or {}).get("memory")
    return max(memory_bytes(raw), MIN_MEMORY_BYTES) if raw else None


def cpu_shares(requests: Mapping[str, str] | None) -> int:
    """Kubernetes' cgroup v1 conversion of a CPU request: 1024 shares per CPU (at least 2)."""
    return max(2, round(cpu_millis(requests) * 1024 / 1000))


def run_arguments(spec: FunctionSpec, replica: Replica, node: Node, name: str,
                  env_names: list[str], state_label: str, secrets_dir: str | None = None) -> list[str]:
    """`podman run` for one replica; values of `env_names` come from podman's environment.

    The function's secrets folder is mounted read-only where a cluster mounts secrets
    (/var/openfaas/secrets), so the function reads them there with no setting; `U` gives
    the folder to the image's (non-root) user, keeping it owner-only.
    """
    args = ["run", "--rm", "--name", name, "--hostname", replica.instance, "--pull", "never"]
    # The function's labels and annotations on its containers, as faasd keeps them; ours last, so they win.
    for key, value in sorted(spec.labels.items()):
        args += ["--label", f"{key}={value}"]
    for key, value in sorted(spec.annotations.items()):
        args += ["--label", f"{ANNOTATION_PREFIX}{key}={value}"]
    args += ["--label", f"{LABEL}={state_label}", "--label", f"{FUNCTION_LABEL}={spec.qualified_name}",
             "--publish", f"127.0.0.1:{replica.port}:{WATCHDOG_PORT}",
             "--cpu-shares", str(cpu_shares(spec.requests))]
    memory = memory_limit(spec.limits)
    if memory:
        args += ["--memory", str(memory)]
    reserved = (spec.requests or {}).get("memory")
    if reserved:  # a soft limit, as the cgroup's memory.soft_limit_in_bytes; never above the hard one
        args += ["--memory-reservation", str(min(memory_bytes(reserved), memory or memory_bytes(reserved)))]
    cpus = (spec.limits or {}).get("cpu")
    if cpus:  # CFS quota, as Kubernetes enforces limits.cpu
        args += ["--cpus", f"{cpu_cores(cpus):g}"]
    if node.cpus:
        args += ["--cpuset-cpus", ",".join(map(str, sorted(node.cpus)))]
    if spec.read_only_root_filesystem:
        args += ["--read-only", "--tmpfs", "/tmp"]
    if secrets_dir:
        args += ["--volume", f"{secrets_dir}:{DEFAULT_SECRETS_DIR}:ro,U"]
    for variable in env_names:
        args += ["--env", variable]
    if spec.env_process:
        args += ["--env", "fprocess"]
    return args + [spec.image]


class ContainerLauncher:
    """Starts replicas as containers; `start` returns the wrapper process to supervise."""

    engine = "podman"

    def __init__(self, podman: Podman, runtime_env: Mapping[str, str], state_label: str):
        self.podman, self.runtime_env, self.state_label = podman, dict(runtime_env), state_label

    def check_image(self, spec: FunctionSpec) -> None:
        if not self.podman.image_exists(spec.image):
            raise OSError(f"image {spec.image} is not in podman's local storage: for a stack function run "
                          f"`make images` (or `faasml images build --filter {spec.name}`), else deploy it "
                          f"again where its registry is reachable")

    def _image_present(self, image: str, attempts: int = 3) -> bool:
        """`podman image exists`: 0 present, 1 absent; anything else is podman failing (e.g.
        its storage lock held by a concurrent build), which is asked again before a pull."""
        why = ""
        for attempt in range(attempts):
            try:
                done = self.podman.run("image", "exists", image, check=False, timeout=60)
            except subprocess.TimeoutExpired:
                why = "`podman image exists` took over 60s"
                continue
            if done.returncode in (0, 1):
                return done.returncode == 0
            why = done.stderr.decode(errors="replace").strip()[-500:]
            time.sleep(0.5 * (attempt + 1))
        raise ImageUnavailable(f"podman cannot tell whether image {image!r} is present: {why}")

    def ensure_image(self, image: str) -> None:
        """Make `image` present in local storage: there already (podman resolves a short
        name to a local image), or pulled by its full name. ImageUnavailable says why not."""
        if self._image_present(image):
            return
        reference = qualified_image(image)
        try:
            pulled = self.podman.run("pull", "--quiet", reference, check=False, timeout=PULL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise ImageUnavailable(f"image {image!r} is not in podman's local storage, and pulling "
                                   f"{reference} took over {PULL_TIMEOUT_S}s") from None
        if pulled.returncode != 0:
            why = pulled.stderr.decode(errors="replace").strip().splitlines()
            raise ImageUnavailable(f"image {image!r} is not in podman's local storage and pulling "
                                   f"{reference} failed: {why[-1] if why else 'no reason given'}")

    async def start(self, spec: FunctionSpec, replica: Replica, node: Node,
                    function_env: Mapping[str, str] | None = None) -> asyncio.subprocess.Process:
        await asyncio.to_thread(self.check_image, spec)
        extra = dict(function_env or {})
        # A host path means nothing inside the container: the folder is mounted instead.
        secrets_dir = extra.pop(SECRETS_DIR_ENV, None)
        env = {**self.runtime_env, **extra, **spec.environment}
        name = f"faasml-{replica.instance}-{uuid.uuid4().hex[:6]}"
        args = run_arguments(spec, replica, node, name, sorted(env), self.state_label, secrets_dir)
        process_env = {**self.podman.env(), **env}
        if spec.env_process:
            process_env["fprocess"] = spec.env_process
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "faasml.runtime.containers", name, "--", "podman", *args,
            env=process_env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True)

    def remove_all(self) -> None:
        """Containers of this runtime that outlived their wrapper (e.g. a killed `faasml up`)."""
        listed = self.podman.run("ps", "-a", "-q", "--filter", f"label={LABEL}={self.state_label}",
                                 check=False).stdout.decode().split()
        if listed:
            self.podman.run("rm", "--force", *listed, check=False)


def bridge_gateway(podman: Podman) -> str:
    """The host's address on podman's default network, which its containers can reach."""
    done = podman.run("network", "inspect", "podman", check=False)
    try:
        return json.loads(done.stdout)[0]["subnets"][0]["gateway"]
    except (ValueError, LookupError, TypeError):
        return DEFAULT_BRIDGE_GATEWAY


class GatewayRelay:
    """TCP from `host:port` (the bridge address) to the gateway on the loopback."""

    def __init__(self, host: str, port: int, target_port: int):
        self.host, self.port, self.target_port = host, port, target_port
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_IP, _IP_FREEBIND, 1)  # the bridge appears with the first container
        sock.bind((self.host, self.port))
        self.server = await asyncio.start_server(self._serve, sock=sock)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(_RELAY_CHUNK):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


class Containers:
    """What `faasml up --containers` adds to the runtime: the launcher and the relay."""

    def __init__(self, launcher: ContainerLauncher, relay: GatewayRelay):
        self.launcher, self.relay = launcher, relay

    def close(self) -> None:
        self.relay.close()
        self.launcher.remove_all()


async def start_containers(engine: str, runtime_env: Mapping[str, str], gateway_port: int,
                           state_dir: Path) -> Containers:
    """Check the engine, start the relay; the functions' gateway URL becomes the relay's."""
    if engine not in ENGINES:
        raise ContainerError(f"--containers {engine!r}: supported engines are {', '.join(ENGINES)}")
    podman = Podman(state_dir / "podman")
    missing = Podman.available()
    if missing:
        raise ContainerError(f"--containers podman: {missing}")
    host = await asyncio.to_thread(bridge_gateway, podman)
    relay = GatewayRelay(host, gateway_port, gateway_port)
    await relay.start()
    url = f"http://{host}:{gateway_port}"
    env = {**runtime_env, "FAASML_GATEWAY_URL": url, "OPENFAAS_URL": url,
           "FAASML_GATEWAY_METRICS_URL": f"{url}/metrics"}
    return Containers(ContainerLauncher(podman, env, str(state_dir)), relay)


def _wrapper(argv: list[str]) -> int:
    """`python -m faasml.runtime.containers NAME -- podman run ...`: run, stop, remove."""
    name, command = argv[0], argv[2:]
    child = subprocess.Popen(command)

    def stop(signum, frame):  # noqa: ARG001 (signal handler signature)
        subprocess.run(["podman", "stop", "--time", str(STOP_GRACE_S), name], capture_output=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        return child.wait()
    finally:
        subprocess.run(["podman", "rm", "--force", "--ignore", name], capture_output=True)


if __name__ == "__main__":
    sys.exit(_wrapper(sys.argv[1:]))

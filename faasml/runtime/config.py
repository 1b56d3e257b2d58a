"""`faasml up`'s configuration: what to run (the command's arguments) and its settings,
declared once (faasml/settings.py): each setting is a flag and an environment variable,
with its default, parser and meaning written here and nowhere else.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from faasml.settings import number, one_of, setting, whole_number


@dataclass(frozen=True)
class ProbeSettings:
    startup_probe_interval_s: float = 0.05  # while starting: become routable quickly
    health_probe_interval_s: float = 1.0    # once ready, when a ready_path is set
    probe_timeout_s: float = 2.0
    unready_after_failures: int = 3         # Kubernetes' failureThreshold


@dataclass(frozen=True)
class SupervisionSettings:
    """Timings of readiness probing and draining (defaults follow of-watchdog/Kubernetes)."""

    probe: ProbeSettings = field(default_factory=ProbeSettings)
    drain_grace_s: float = 10.0  # in-flight requests may finish before SIGTERM


@dataclass(frozen=True)
class RuntimeConfig:
    stack_path: Path
    nodes_path: Path | None = None  # None: <stack folder>/edge/nodes.local.yml, else one node
    state_dir: Path | None = None   # None: <stack folder>/.faasml
    only: tuple[str, ...] = ()      # deploy just these stack functions
    empty: bool = False             # deploy none of them: a clean provider for `faas-cli deploy`
    host: str = setting("FAASML_UP_HOST", "127.0.0.1", doc="listen address", flag="--host")
    port: int = setting("FAASML_UP_PORT", 8080, whole_number(1), "gateway port", flag="--port")
    max_body_mb: float = setting("FAASML_UP_MAX_BODY_MB", 64.0, number(positive=True),
                                 "request body limit in MiB (a larger body gets a JSON 413)",
                                 flag="--max-body-mb")
    upstream_timeout_s: float = setting(
        "FAASML_UP_UPSTREAM_TIMEOUT_S", 60.0, number(positive=True),
        "seconds a replica may take when its exec_timeout is unset (then a JSON 504)",
        flag="--upstream-timeout")
    ready_wait_s: float = setting("FAASML_UP_READY_WAIT_S", 5.0, number(),
                                  "seconds a request waits for a starting replica before a JSON 503",
                                  flag="--ready-wait")
    scale_from_zero_wait_s: float = setting(
        "FAASML_UP_SCALE_FROM_ZERO_WAIT_S", 120.0, number(positive=True),
        "seconds a request to a function at zero replicas waits for one to start (then a JSON 503)")
    password: str | None = setting(("FAASML_GATEWAY_PASSWORD", "OPENFAAS_PASSWORD"), None,
                                   doc="basic-auth password for /system/* (user admin); else the state "
                                       "folder's basic-auth-password, generated on first start", secret=True)
    containers: str = setting("FAASML_UP_CONTAINERS", "", one_of("", "podman"),
                              "run each replica from its image on this engine (`make images` first) "
                              "instead of as a local process", flag="--containers")
    supervision: SupervisionSettings = field(default_factory=SupervisionSettings)

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * (1 << 20))

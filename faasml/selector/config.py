"""The selector's settings, declared once: each field names its environment variable (set
in stack.yml's `environment`), default, parser and meaning. `load(SelectorConfig)` reads
and validates them at start; the handler stops on a bad one (faasml/settings.py).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from faasml.contract import API_KEYS_ENV
from faasml.function_secrets import read_secret as function_secret
from faasml.selector.direct import DIRECT_MODES, check_url_template
from faasml.selector.engine.policies import DEFAULT_POLICY, POLICIES
from faasml.selector.engine.settings import (AdmissionSettings, EngineSettings, ForwardSettings, PolicySettings,
                                             SignalSettings)
from faasml.selector.gateway_client import GatewayEndpoint
from faasml.settings import ConfigError, http_url, number, one_of, setting, whole_number

DEFAULT_GATEWAY = "http://127.0.0.1:8080"   # the local runtime's address
# OpenFaaS mounts the `basic-auth` secret as these files (faasml.function_secrets finds them).
PASSWORD_SECRET, USER_SECRET = "basic-auth-password", "basic-auth-user"
SECONDS = number(positive=True)


def secret_name(raw: str) -> str:
    """A secret's name: one path component (it names a file in the secrets folder)."""
    name = raw.strip()
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise ValueError("not a secret name (one file name in the secrets folder)")
    return name


def parse_gateways(raw: str) -> tuple[GatewayEndpoint, ...]:
    endpoints = tuple(GatewayEndpoint.parse(spec) for spec in raw.split(",") if spec.strip())
    if not endpoints:
        raise ValueError("names no gateway")
    return endpoints


def parse_metrics_urls(raw: str) -> dict[str, str]:
    """`name=url,...` -> {gateway name: its metrics URL}."""
    urls = {}
    for spec in raw.split(","):
        name, sep, url = spec.strip().partition("=")
        if not spec.strip():
            continue
        if not sep or not name or "://" in name:
            raise ValueError(f"{spec.strip()!r} is not name=url")
        urls[name] = http_url(url.strip())
    if not urls:
        raise ValueError("names no gateway")
    return urls


@dataclass(frozen=True)
class SelectorConfig:
    gateways: tuple[GatewayEndpoint, ...] = setting(
        ("FAASML_GATEWAYS", "FAASML_GATEWAY_URL", "gateway_url", "OPENFAAS_URL"),
        (GatewayEndpoint.parse(DEFAULT_GATEWAY),), parse_gateways,
        "gateways whose /system/functions form the registry, comma-separated [name=]url "
        "(FAASML_GATEWAY_URL is what `faasml up` sets; gateway_url, OPENFAAS_URL a cluster's)")
    gateway_user: str | None = setting("FAASML_GATEWAY_USER", None,
                                       doc="basic-auth user for /system/functions, else the mounted "
                                           "basic-auth-user secret, else admin")
    gateway_password: str | None = setting(
        ("FAASML_GATEWAY_PASSWORD", "OPENFAAS_PASSWORD"), None,
        doc="basic-auth password, else the password file's, else the mounted basic-auth-password secret",
        secret=True)
    gateway_password_file: str | None = setting("FAASML_GATEWAY_PASSWORD_FILE", None,
                                                doc="a file holding the password, when not given")
    gateway_metrics_url: str | None = setting(
        ("FAASML_GATEWAY_METRICS_URL", "gateway_metrics_url"), None, http_url,
        "the first gateway's /metrics when not <gateway>/metrics (OpenFaaS serves it on :8082; "
        "FAASML_GATEWAY_METRICS_URL is what `faasml up` sets, gateway_metrics_url a cluster's)")
    # One OpenFaaS per site: each gateway's metrics (OpenFaaS serves them on :8082, which a
    # remote site exposes as a NodePort) by the name FAASML_GATEWAYS gives it.
    gateway_metrics_urls: dict[str, str] | None = setting(
        "FAASML_GATEWAY_METRICS_URLS", None, parse_metrics_urls,
        "each named gateway's /metrics, comma-separated name=url (names from FAASML_GATEWAYS)")
    prometheus_url: str | None = setting("PROMETHEUS_URL", None, http_url,
                                         "read load via PromQL here instead of the gateways' /metrics")
    policy: str = setting("FAASML_POLICY", DEFAULT_POLICY, one_of(*POLICIES), "default ranking policy")
    profiles_path: str | None = setting("FAASML_PROFILES", None,
                                        doc="profiles JSON written by `faasml profile`")
    registry_refresh_s: float = setting("FAASML_REGISTRY_REFRESH_S", 5.0, SECONDS, "re-list functions this often")
    metrics_poll_s: float = setting("FAASML_METRICS_POLL_S", 1.0, SECONDS, "poll gateway load this often")
    gateway_max_age_s: float = setting("FAASML_GATEWAY_MAX_AGE_S", 5.0, SECONDS,
                                       "gateway load older than this is ignored")
    observed_max_age_s: float = setting("FAASML_OBSERVED_MAX_AGE_S", 30.0, SECONDS,
                                        "own latency observations older than this are ignored")
    cooldown_s: float = setting("FAASML_COOLDOWN_S", 2.0, number(), "skip a failed variant this long")
    timeout_s: float = setting("FAASML_TIMEOUT_S", 25.0, SECONDS,
                               "deadline without max_latency_ms (under of-watchdog's 30 s exec_timeout)")
    max_attempts: int = setting("FAASML_MAX_ATTEMPTS", 3, whole_number(1), "variants tried per request")
    replica_concurrency: int = setting("FAASML_REPLICA_CONCURRENCY", 1, whole_number(1),
                                       "requests one replica runs at once (the queue model)")
    max_queue_per_slot: float = setting("FAASML_MAX_QUEUE_PER_SLOT", 16.0, number(positive=True),
                                        "beyond this many queued per slot a variant is saturated")
    max_queue_ms: float = setting("FAASML_MAX_QUEUE_MS", 30.0, number(positive=True),
                                  "predicted queueing (ms) above which a variant takes no more requests for now")
    hold_s: float = setting("FAASML_HOLD_S", 0.5, number(),
                            "longest a request that finds no room waits in the selector (0: 429 at once)")
    protect_s: float = setting("FAASML_PROTECT_S", 5.0, number(),
                               "how long a tight-deadline request keeps its fast lane's budget (0: none)")
    protect_margin: float = setting("FAASML_PROTECT_MARGIN", 0.8, number(positive=True),
                                    "the share of a tight limit the fast lane's budget aims at")
    protect_suspend_below: float = setting("FAASML_PROTECT_SUSPEND_BELOW", 0.5, number(),
                                           "a fast lane whose recent tight requests met their limits less "
                                           "often than this holds no work back until they do (0: never)")
    stall_factor: float = setting("FAASML_STALL_FACTOR", 4.0, number(),
                                  "an attempt running this many times its predicted latency is given "
                                  "up for the next variant, which stays out until it answers (0: never)")
    stall_floor_ms: float = setting("FAASML_STALL_FLOOR_MS", 300.0, number(positive=True),
                                    "the shortest stall bound, in ms (ordinary jitter stays under it)")
    api_keys_secret: str | None = setting(
        API_KEYS_ENV, None, secret_name,
        "the OpenFaaS secret holding API keys for /function/selector, one per line (unset: open)")
    direct_functions: str = setting(
        "FAASML_DIRECT_FUNCTIONS", "auto", one_of(*DIRECT_MODES),
        "auto: call a function at the address its gateway's listing offers for bypassing it "
        "(faasml up's local replicas) or at FAASML_DIRECT_URL; off: always through the gateway")
    direct_url: str | None = setting(
        "FAASML_DIRECT_URL", None, check_url_template,
        "call every function here instead of through its gateway, a template naming {name} and "
        "{namespace}, e.g. http://{name}.{namespace}.svc.cluster.local:8080 (OpenFaaS's direct_functions)")
    explore_s: float = setting("FAASML_EXPLORE_S", 0.5, number(),
                               "ours tries a variant it has never seen answer (its latency a profile from "
                               "another machine, or an annotation) at most this often, one request at a time, "
                               "with requests that set no latency limit, until it knows it (0: never)")
    explore_aged_s: float = setting("FAASML_EXPLORE_AGED_S", 10.0, number(),
                                    "the same for a variant whose observations aged out, or whose profile was "
                                    "measured on this kind of machine (0: never)")
    sure_share: float = setting("FAASML_SURE_SHARE", 0.3, number(),
                                "ours, for a request with max_latency_ms: a variant predicted within this share "
                                "of the limit counts as fully fast, so accuracy decides among those "
                                "(0: latency counts as the trade-off says, below the limit too)")
    max_body_mb: float = setting("FAASML_MAX_BODY_MB", 64.0, number(positive=True),
                                 "request bodies over this many MiB get a JSON 413")

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * (1 << 20))

    def __post_init__(self) -> None:
        unknown = set(self.gateway_metrics_urls or {}) - {g.name for g in self.gateways}
        if unknown:
            raise ConfigError(f"FAASML_GATEWAY_METRICS_URLS names no gateway called {', '.join(sorted(unknown))} "
                              f"(gateways: {', '.join(g.name for g in self.gateways)})")

    def engine(self) -> EngineSettings:
        """The engine's slice of these settings (engine/settings.py)."""
        return EngineSettings(
            default_policy=self.policy,
            signals=SignalSettings(self.observed_max_age_s, self.gateway_max_age_s, self.cooldown_s),
            admission=AdmissionSettings(self.replica_concurrency, self.max_queue_per_slot, self.max_queue_ms,
                                        self.protect_s, self.protect_margin, self.protect_suspend_below),
            forwarding=ForwardSettings(self.max_attempts, self.timeout_s, self.stall_factor, self.stall_floor_ms,
                                       self.hold_s),
            policy=PolicySettings(self.explore_s, self.explore_aged_s, self.sure_share))

    def endpoints(self) -> list[GatewayEndpoint]:
        """The gateways with their credentials: a URL's own, else the configured user and
        password (or the password file's); the first one with its metrics URL."""
        password = self.gateway_password or (read_secret(self.gateway_password_file)
                                             if self.gateway_password_file else function_secret(PASSWORD_SECRET))
        user = self.gateway_user or function_secret(USER_SECRET) or "admin"
        endpoints = [dataclasses.replace(e, user=e.user or user,
                                         password=e.password if e.password is not None else password)
                     for e in self.gateways]
        if self.gateway_metrics_url:
            endpoints[0] = dataclasses.replace(endpoints[0], metrics_url=self.gateway_metrics_url)
        by_name = self.gateway_metrics_urls or {}
        return [dataclasses.replace(e, metrics_url=by_name[e.name]) if e.name in by_name else e
                for e in endpoints]


def read_secret(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None

"""The selector's configuration, read once from the environment (stack.yml `environment`).

Each field says what it means; `from_env` is the only place env vars are read.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Mapping

from faasml.selector.gateway_client import GatewayEndpoint
from faasml.selector.policies import DEFAULT_POLICY

DEFAULT_GATEWAY = "http://127.0.0.1:8080"


@dataclass
class SelectorConfig:
    # Gateways whose /system/functions form the registry (FAASML_GATEWAYS, comma-separated
    # `[name=]url`; else FAASML_GATEWAY_URL (set by `faasml up`), gateway_url, OPENFAAS_URL;
    # else the local runtime's default address).
    gateways: list[GatewayEndpoint] = field(default_factory=list)
    prometheus_url: str | None = None     # PROMETHEUS_URL: load via PromQL instead of /metrics
                                          # (FAASML_GATEWAY_METRICS_URL: the first gateway's
                                          # /metrics when not <gateway>/metrics, e.g. :8082)
    policy: str = DEFAULT_POLICY          # FAASML_POLICY: default ranking policy
    profiles_path: str | None = None      # FAASML_PROFILES: JSON written by `faasml profile`
    registry_refresh_s: float = 5.0       # FAASML_REGISTRY_REFRESH_S: re-list functions this often
    metrics_poll_s: float = 1.0           # FAASML_METRICS_POLL_S: poll gateway load this often
    gateway_max_age_s: float = 5.0        # FAASML_GATEWAY_MAX_AGE_S: gateway load older is ignored
    observed_max_age_s: float = 30.0      # FAASML_OBSERVED_MAX_AGE_S: own observations older are ignored
    cooldown_s: float = 2.0               # FAASML_COOLDOWN_S: skip a failed variant this long
    timeout_s: float = 25.0               # FAASML_TIMEOUT_S: deadline without max_latency_ms
                                          # (under of-watchdog's 30 s exec_timeout)
    max_attempts: int = 3                 # FAASML_MAX_ATTEMPTS: variants tried per request
    replica_concurrency: int = 1          # FAASML_REPLICA_CONCURRENCY: requests one replica runs at once
    max_queue_per_slot: float = 16.0      # FAASML_MAX_QUEUE_PER_SLOT: beyond it a variant is saturated
    pool_size: int = 512                  # FAASML_POOL_SIZE: kept-alive connections per gateway

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "SelectorConfig":
        specs = env.get("FAASML_GATEWAYS") or env.get("FAASML_GATEWAY_URL") or env.get("gateway_url") \
            or env.get("OPENFAAS_URL") or DEFAULT_GATEWAY
        number = lambda name, default: float(env.get(name, default))  # noqa: E731
        gateways = [GatewayEndpoint.parse(s, env) for s in specs.split(",") if s.strip()]
        if env.get("FAASML_GATEWAY_METRICS_URL") and gateways:
            # An OpenFaaS gateway serves /metrics on another port (8082) than its API.
            gateways[0] = dataclasses.replace(gateways[0], metrics_url=env["FAASML_GATEWAY_METRICS_URL"])
        return cls(
            gateways=gateways,
            prometheus_url=env.get("PROMETHEUS_URL") or None,
            policy=env.get("FAASML_POLICY", DEFAULT_POLICY),
            profiles_path=env.get("FAASML_PROFILES") or None,
            registry_refresh_s=number("FAASML_REGISTRY_REFRESH_S", 5.0),
            metrics_poll_s=number("FAASML_METRICS_POLL_S", 1.0),
            gateway_max_age_s=number("FAASML_GATEWAY_MAX_AGE_S", 5.0),
            observed_max_age_s=number("FAASML_OBSERVED_MAX_AGE_S", 30.0),
            cooldown_s=number("FAASML_COOLDOWN_S", 2.0),
            timeout_s=number("FAASML_TIMEOUT_S", 25.0),
            max_attempts=int(number("FAASML_MAX_ATTEMPTS", 3)),
            replica_concurrency=int(number("FAASML_REPLICA_CONCURRENCY", 1)),
            max_queue_per_slot=number("FAASML_MAX_QUEUE_PER_SLOT", 16.0),
            pool_size=int(number("FAASML_POOL_SIZE", 512)),
        )

"""Configuration from the environment: gateways, credentials, precedence."""
from __future__ import annotations

import pytest

from faasml.selector.config import SelectorConfig
from faasml.selector.gateway_client import GatewayEndpoint


def test_gateways_by_precedence_with_credentials(tmp_path):
    secret = tmp_path / "basic-auth-password"
    secret.write_text("from-secret\n")
    env = {"FAASML_GATEWAYS": "edge=http://10.0.0.5:31112/, http://bob:pw@cloud:8080",
           "FAASML_GATEWAY_URL": "http://ignored:1", "FAASML_GATEWAY_PASSWORD_FILE": str(secret),
           "FAASML_GATEWAY_METRICS_URL": "http://10.0.0.5:8082/metrics", "FAASML_MAX_ATTEMPTS": "2"}
    config = SelectorConfig.from_env(env)
    edge, cloud = config.gateways
    assert (edge.name, edge.url, edge.user, edge.password) == ("edge", "http://10.0.0.5:31112", "admin", "from-secret")
    assert edge.metrics_url == "http://10.0.0.5:8082/metrics" and cloud.metrics_url is None
    assert (cloud.name, cloud.url, cloud.user, cloud.password) == ("cloud:8080", "http://cloud:8080", "bob", "pw")
    assert config.max_attempts == 2 and config.policy == "tradeoff"


def test_runtime_url_wins_over_cluster_default():
    env = {"FAASML_GATEWAY_URL": "http://127.0.0.1:9999", "gateway_url": "http://gateway.openfaas:8080",
           "FAASML_GATEWAY_PASSWORD_FILE": "/nonexistent"}
    (gateway,) = SelectorConfig.from_env(env).gateways
    assert gateway.url == "http://127.0.0.1:9999" and gateway.password is None


def test_bad_gateway_spec_is_refused():
    with pytest.raises(ValueError):
        GatewayEndpoint.parse("ftp://nowhere", {})

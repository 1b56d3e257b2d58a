"""Settings from the environment: gateways, credentials, precedence, and refusals."""
from __future__ import annotations

import pytest

from faasml.selector.config import SelectorConfig
from faasml.settings import ConfigError, load


def test_gateways_by_precedence_with_credentials(tmp_path):
    secret = tmp_path / "basic-auth-password"
    secret.write_text("from-secret\n")
    env = {"FAASML_GATEWAYS": "edge=http://10.0.0.5:31112/, http://bob:pw@cloud:8080",
           "FAASML_GATEWAY_URL": "http://ignored:1", "FAASML_GATEWAY_PASSWORD_FILE": str(secret),
           "FAASML_GATEWAY_METRICS_URL": "http://10.0.0.5:8082/metrics", "FAASML_MAX_ATTEMPTS": "2"}
    config = load(SelectorConfig, env)
    edge, cloud = config.endpoints()
    assert (edge.name, edge.url, edge.user, edge.password) == ("edge", "http://10.0.0.5:31112", "admin", "from-secret")
    assert edge.metrics_url == "http://10.0.0.5:8082/metrics" and cloud.metrics_url is None
    assert (cloud.name, cloud.url, cloud.user, cloud.password) == ("cloud:8080", "http://cloud:8080", "bob", "pw")
    assert config.max_attempts == 2 and config.policy == "tradeoff"


def test_runtime_url_wins_over_cluster_default():
    env = {"FAASML_GATEWAY_URL": "http://127.0.0.1:9999", "gateway_url": "http://gateway.openfaas:8080",
           "FAASML_GATEWAY_PASSWORD_FILE": "/nonexistent"}
    (gateway,) = load(SelectorConfig, env).endpoints()
    assert gateway.url == "http://127.0.0.1:9999" and gateway.password is None


def test_defaults_when_nothing_is_set():
    config = load(SelectorConfig, {})
    assert [e.url for e in config.gateways] == ["http://127.0.0.1:8080"]
    assert (config.timeout_s, config.max_attempts) == (25.0, 3)


@pytest.mark.parametrize("env, message", [
    ({"FAASML_GATEWAYS": "ftp://nowhere"}, "FAASML_GATEWAYS='ftp://nowhere': gateway 'ftp://nowhere' is not an http(s) URL"),
    ({"FAASML_MAX_ATTEMPTS": "three"}, "FAASML_MAX_ATTEMPTS='three': not a whole number"),
    ({"FAASML_MAX_ATTEMPTS": "0"}, "FAASML_MAX_ATTEMPTS='0': must be at least 1"),
    ({"FAASML_TIMEOUT_S": "-1"}, "FAASML_TIMEOUT_S='-1': must be above 0"),
    ({"FAASML_POLICY": "best"}, "FAASML_POLICY='best': must be one of tradeoff"),
    ({"PROMETHEUS_URL": "prometheus:9090"}, "PROMETHEUS_URL='prometheus:9090': not an http(s) URL"),
])
def test_a_bad_setting_is_a_config_error_naming_it(env, message):
    with pytest.raises(ConfigError) as error:
        load(SelectorConfig, env)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)

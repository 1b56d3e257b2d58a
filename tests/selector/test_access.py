"""Who may reach what through the selector: optional API keys from an OpenFaaS secret,
forwarding only to registered executors, and a body limit on its hop."""
from __future__ import annotations

import json

import pytest

from faasml.http import Headers, Request, handle_event
from faasml.selector import access
from faasml.selector.access import ApiKeys, parse_keys
from faasml.selector.config import SelectorConfig
from faasml.settings import ConfigError, load

from .conftest import TASK, body, get, make_service, post

KEYS = "# clients of the photo app\nkey-one\n\n  key-two  \n"


@pytest.fixture
def secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("FAASML_SECRETS_DIR", str(tmp_path))
    (tmp_path / "selector-api-keys").write_text(KEYS)
    return tmp_path


@pytest.fixture
def guarded(gateway, secrets):
    selector = make_service(gateway, api_keys_secret="selector-api-keys")
    yield selector
    selector.stop()


def test_keys_are_one_per_line_without_blanks_or_comments():
    assert parse_keys(KEYS) == (b"key-one", b"key-two")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"X-Api-Key": "key-three"},
                                     {"Authorization": "Basic a2V5LW9uZTo="}, {"Authorization": "Bearer "},
                                     {"X-Api-Key": "key-one-and-more"}, {"X-Api-Key": "key"}])
def test_requests_without_a_current_key_get_a_json_401(guarded, gateway, headers):
    response = post(guarded, headers=headers, task=TASK)
    assert response.status == 401 and body(response)["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert not gateway.calls   # nothing was forwarded
    assert get(guarded, "/variants").status == 401


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer key-one"}, {"authorization": "bearer key-two"},
                                     {"X-Api-Key": "key-two"}])
def test_a_current_key_passes_and_is_not_passed_on(guarded, gateway, headers):
    response = post(guarded, headers={**headers, "X-Other": "kept"}, task=TASK)
    assert response.status == 200, body(response)
    forwarded = {k.lower(): v for k, v in gateway.calls[-1][2].items()}
    assert "authorization" not in forwarded and "x-api-key" not in forwarded
    assert forwarded["x-other"] == "kept"


def test_readiness_stays_open_for_the_probes(guarded):
    assert get(guarded, "/ready").status == 200


def test_a_named_secret_that_is_missing_refuses_every_request(gateway, secrets):
    selector = make_service(gateway, api_keys_secret="not-mounted")
    try:
        response = post(selector, headers={"X-Api-Key": "key-one"}, task=TASK)
        assert response.status == 503 and body(response)["error"]["code"] == "api_keys_unavailable"
    finally:
        selector.stop()


def test_rotated_keys_take_effect_without_a_restart(secrets, monkeypatch):
    now = [0.0]
    keys = ApiKeys("selector-api-keys", clock=lambda: now[0])
    request = Request("POST", "/", {}, Headers({"X-Api-Key": "key-new"}), b"")
    with pytest.raises(Exception):
        keys.check(request)
    (secrets / "selector-api-keys").write_text("key-new\n")
    now[0] += access.RELOAD_S
    keys.check(request)   # no error


def test_the_secret_setting_is_a_file_name_not_a_path():
    with pytest.raises(ConfigError):
        load(SelectorConfig, {"FAASML_API_KEYS_SECRET": "../../etc/passwd"})
    assert load(SelectorConfig, {"FAASML_API_KEYS_SECRET": "keys"}).api_keys_secret == "keys"


def test_keys_never_appear_in_the_settings_repr(secrets):
    config = load(SelectorConfig, {"FAASML_API_KEYS_SECRET": "selector-api-keys",
                                   "FAASML_GATEWAY_PASSWORD": "hunter2"})
    assert "hunter2" not in repr(config) and "key-one" not in repr(config)


@pytest.mark.parametrize("pin", ["selector", "broken", "http://169.254.169.254/", "../quick", "quick/../precise",
                                 "quick.openfaas-fn", "/function/quick", "quick?x=1"])
def test_the_selector_forwards_only_to_registered_executors(service, gateway, pin):
    response = post(service, variant=pin)
    assert response.status == 404 and body(response)["error"]["code"] == "unknown_variant"
    assert not gateway.calls


class Event:
    def __init__(self, body: bytes, headers=None):
        self.body, self.headers, self.method, self.path, self.query = body, headers or {}, "POST", "/", {}


def test_bodies_over_the_selector_limit_get_a_json_413_before_forwarding(service, gateway):
    limit = SelectorConfig(max_body_mb=0.001).max_body_bytes
    answer = handle_event(Event(b"x" * (limit + 1)), service.handle, limit)
    assert answer["statusCode"] == 413 and json.loads(answer["body"])["error"]["code"] == "payload_too_large"
    declared = handle_event(Event(b"", {"Content-Length": str(limit + 1)}), service.handle, limit)
    assert declared["statusCode"] == 413
    assert not gateway.calls

"""Secrets: the store's files and permissions, `/system/secrets`, and mounts into functions."""
from __future__ import annotations

import base64
import stat

import pytest

from faasml.errors import BadRequest, NotFound
from faasml.runtime.secret_store import Conflict, SecretStore, parse_secret
from tests.runtime.conftest import PASSWORD, function


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_store_keeps_values_owner_only_and_mounts_them_per_function(tmp_path):
    store = SecretStore(tmp_path, {"basic-auth": {"basic-auth-user": "admin", "basic-auth-password": "pw"}})
    store.create("openfaas-fn", "api-key", b"s3cret")
    assert _mode(tmp_path / "secrets") == 0o700
    assert _mode(tmp_path / "secrets" / "openfaas-fn" / "api-key") == 0o600
    assert store.list("openfaas-fn") == [{"name": "api-key", "namespace": "openfaas-fn"},
                                         {"name": "basic-auth", "namespace": "openfaas-fn"}]
    with pytest.raises(Conflict):
        store.create("openfaas-fn", "api-key", b"again")
    with pytest.raises(BadRequest):
        store.update("openfaas-fn", "basic-auth", b"x")  # the gateway's own, read-only
    assert store.mount("fn.openfaas-fn", "openfaas-fn", ["api-key", "basic-auth", "nope"]) == ["nope"]
    folder = store.mount_dir("fn.openfaas-fn")
    assert {p.name: p.read_text() for p in folder.iterdir()} == {
        "api-key": "s3cret", "basic-auth-user": "admin", "basic-auth-password": "pw"}
    assert _mode(folder) == 0o700 and all(_mode(p) == 0o600 for p in folder.iterdir())
    store.update("openfaas-fn", "api-key", b"new")
    store.delete("openfaas-fn", "api-key")
    with pytest.raises(NotFound):
        store.delete("openfaas-fn", "api-key")
    store.mount("fn.openfaas-fn", "openfaas-fn", ["api-key"])
    assert list(folder.iterdir()) == []  # a removed secret leaves the mount
    store.mount("fn.openfaas-fn", "openfaas-fn", [])
    assert not folder.exists()  # a function that names none has no folder


def test_secret_bodies_take_value_or_raw_value_and_refuse_paths():
    assert parse_secret(b'{"name":"a","value":"v"}') == ("a", None, b"v")
    raw = base64.b64encode(b"\x00\xff").decode()
    assert parse_secret(f'{{"name":"a","namespace":"ns","rawValue":"{raw}"}}'.encode()) == ("a", "ns", b"\x00\xff")
    for bad in (b'{"name":"../x","value":"v"}', b'{"name":"a"}', b'{"name":"A","value":"v"}', b'[]'):
        with pytest.raises(BadRequest):
            parse_secret(bad)
    assert parse_secret(b'{"name":"a"}', need_value=False) == ("a", None, b"")


def test_functions_read_their_secrets_as_files_and_values_stay_hidden(start_runtime):
    runtime = start_runtime({
        "keeper": function("toy", "faasml/keeper:dev", secrets=["api-key", "basic-auth"]),
        "plain": function("toy", "faasml/plain:dev"),
    })
    runtime.wait_available("keeper", 1)
    assert runtime.invoke("keeper/secret?name=api-key").status_code == 404  # not created yet
    created = runtime.system("POST", "/system/secrets", json={"name": "api-key", "value": "k-123"})
    assert created.status_code == 202
    assert runtime.system("POST", "/system/secrets", json={"name": "api-key", "value": "x"}).status_code == 409
    assert runtime.invoke("keeper/secret?name=api-key").json() == {"value": "k-123"}
    assert runtime.invoke("keeper/secret?name=basic-auth-password").json() == {"value": PASSWORD}
    assert runtime.invoke("plain/secret?name=basic-auth-password").status_code == 404  # never asked
    # `faasml up` itself was given its password in the environment: no function inherits it
    for name in ("plain", "keeper"):
        assert runtime.invoke(f"{name}/env?name=FAASML_GATEWAY_PASSWORD").json() == {"value": None}
    assert runtime.system("PUT", "/system/secrets", json={"name": "api-key", "value": "k-456"}).status_code == 202
    assert runtime.invoke("keeper/secret?name=api-key").json() == {"value": "k-456"}
    listed = runtime.system("GET", "/system/secrets").json()
    assert {"name": "api-key", "namespace": "openfaas-fn"} in listed
    described = runtime.system("GET", "/system/functions").text + runtime.log_text()
    assert "k-456" not in described and "k-123" not in described
    deploy = runtime.system("POST", "/system/functions", json={
        "service": "needy", "image": "faasml/keeper:dev", "secrets": ["missing"]})
    assert deploy.status_code == 400 and deploy.json()["error"]["code"] == "secret_not_found"
    assert runtime.system("DELETE", "/system/secrets", json={"name": "api-key"}).status_code == 202
    assert runtime.system("DELETE", "/system/secrets", json={"name": "api-key"}).status_code == 404
    assert runtime.invoke("keeper/secret?name=api-key").status_code == 404
    assert runtime.system("GET", "/system/secrets", auth=None).status_code == 401

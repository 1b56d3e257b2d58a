"""`faasml up --containers podman --empty` runs any function image, as faasd does: the
certifier's stand-in of `functions/alpine` (the classic watchdog, `fprocess` from the
deployment) deployed with the stock faas-cli and through the API, with the deployment's
limits, read-only root, placement, secrets and replica count on real containers.

Skipped where podman, faas-cli, the watchdogs or root are absent (as tests/images).
"""
from __future__ import annotations

import json
import os
import time

import pytest
import requests

from faasml.conformance.certifier import ConformanceProvider
from faasml.conformance.standins import ALPINE, build_standins, why_not_buildable
from faasml.images.engine import Podman
from faasml.images.tools import FAAS_CLI, find_tool, missing_reason
from faasml.runtime.containers import LABEL

CPUS = sorted(os.sched_getaffinity(0))
NODES = f"""nodes:
  - name: edge
    labels: {{faasml.io/node-class: edge}}
    cpus: "{CPUS[0]}"
  - name: cloud
    labels: {{faasml.io/node-class: cloud}}
    cpus: "{','.join(map(str, CPUS[1:] or CPUS))}"
"""


def _why_skip() -> str | None:
    if find_tool(FAAS_CLI) is None:
        return missing_reason(FAAS_CLI)
    if why_not_buildable():
        return why_not_buildable()
    if os.geteuid() != 0:
        return "needs root podman (cgroupfs limits, as in CI)"
    return None


pytestmark = [pytest.mark.slow, pytest.mark.skipif(_why_skip() is not None, reason=str(_why_skip()))]


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    folder = tmp_path_factory.mktemp("any-image")
    build_standins(Podman(folder / "podman"), log=lambda _: None)
    (folder / "nodes.yml").write_text(NODES)
    running = ConformanceProvider(folder, settings={}, args=("--nodes", str(folder / "nodes.yml")))
    running.start()
    yield running
    running.stop()
    assert running.containers() == [], "containers left behind"


def _api(provider, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, provider.url + path, auth=("admin", provider.password), timeout=60, **kwargs)


def _wait(check, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _available(provider, name: str, replicas: int = 1) -> dict:
    _wait(lambda: _api(provider, "GET", f"/system/function/{name}").json().get("availableReplicas") == replicas)
    return _api(provider, "GET", f"/system/function/{name}").json()


def _containers(provider, name: str) -> list[dict]:
    """This provider's containers of `name` (podman's store is the machine's: another
    checkout's run of this test deploys the same function names at the same time)."""
    podman = Podman(provider.folder / "podman")
    ids = podman.run("ps", "-q", "--filter", f"label={LABEL}={provider.platform.state_dir.resolve()}").stdout.decode().split()
    mine = json.loads(podman.run("inspect", *ids).stdout) if ids else []
    return [c for c in mine if c["Config"]["Labels"].get("faas_function") == f"{name}.openfaas-fn"]


def _deploy(provider, **body) -> requests.Response:
    return _api(provider, "POST", "/system/functions", json={"image": ALPINE.image, **body})


def test_faas_cli_deploys_the_stand_in_image_and_invoke_prints_its_environment(provider):
    deployed = provider.faas_cli("deploy", "--gateway", provider.url, "--image", ALPINE.image,
                                 "--name", "env-test", "--fprocess", "env", "--env", "custom_env=custom_value",
                                 "--label", "tier=test", "--annotation", "owner=faas-cli")
    assert "Deployed. 202 Accepted." in deployed.stdout, deployed.stdout + deployed.stderr
    _available(provider, "env-test")
    invoked = provider.faas_cli("invoke", "env-test", "--gateway", provider.url, "--query", "q=1",
                                stdin="hello")
    environment = dict(line.split("=", 1) for line in invoked.stdout.splitlines() if "=" in line)
    assert environment["fprocess"] == "env" and environment["custom_env"] == "custom_value"
    assert environment["Http_Method"] == "POST" and environment["Http_Query"] == "q=1"
    assert environment["HOSTNAME"].startswith("env-test-") and environment["HOME"] == "/home/app"
    listed = provider.faas_cli("list", "--gateway", provider.url).stdout
    assert "env-test" in listed
    [container] = _containers(provider, "env-test")
    assert container["ImageName"] == ALPINE.image and container["Config"]["User"] == "10001"
    assert container["Config"]["Labels"]["com.openfaas.annotations.owner"] == "faas-cli"
    assert container["Config"]["Labels"]["tier"] == "test"
    logs = provider.faas_cli("logs", "env-test", "--gateway", provider.url, "--tail=false").stdout
    assert "Forking fprocess" in logs
    info = _api(provider, "GET", "/system/info").json()["provider"]
    assert info["orchestration"] == "podman" and info["version"]["sha"]


def test_memory_limit_is_enforced_and_cpu_limit_and_read_only_root_reach_the_container(provider):
    hungry = "python3 -c b=bytearray(200000000)"  # ~200 MB, no spaces: the watchdog splits fprocess
    assert _deploy(provider, service="hungry-limited", envProcess=hungry,
                   limits={"memory": "32Mi", "cpu": "250m"}).status_code == 202
    assert _deploy(provider, service="hungry-free", envProcess=hungry).status_code == 202
    assert _deploy(provider, service="read-only", envProcess="touch /home/app/probe",
                   readOnlyRootFilesystem=True).status_code == 202
    for name in ("hungry-limited", "hungry-free", "read-only"):
        _available(provider, name)
    limited = requests.post(f"{provider.url}/function/hungry-limited", timeout=60)
    assert limited.status_code == 500 and "killed" in limited.text  # the cgroup's OOM killer
    assert requests.post(f"{provider.url}/function/hungry-free", timeout=60).status_code == 200
    [container] = _containers(provider, "hungry-limited")
    assert container["HostConfig"]["Memory"] == 32 << 20 and container["HostConfig"]["NanoCpus"] == 250_000_000
    refused = requests.post(f"{provider.url}/function/read-only", timeout=60)
    assert refused.status_code == 500 and "Read-only file system" in refused.text
    [container] = _containers(provider, "read-only")
    assert container["HostConfig"]["ReadonlyRootfs"] is True


def test_constraints_place_containers_on_the_nodes_of_the_nodes_file(provider):
    assert _deploy(provider, service="on-edge", envProcess="cat",
                   constraints=["faasml.io/node-class=edge"]).status_code == 202
    assert _deploy(provider, service="on-gpu", envProcess="cat",
                   constraints=["faasml.io/node-class=gpu"]).status_code == 202
    status = _available(provider, "on-edge")
    assert status["faasml"]["nodes"] == ["edge"]
    [container] = _containers(provider, "on-edge")
    assert container["HostConfig"]["CpusetCpus"] == str(CPUS[0])
    unplaced = _api(provider, "GET", "/system/function/on-gpu").json()
    assert "no node matches" in unplaced["faasml"]["unschedulable"] and _containers(provider, "on-gpu") == []


def test_secrets_are_mounted_read_only_and_follow_updates_while_the_container_runs(provider):
    secret = {"name": "api-key", "value": "first-value"}
    assert _api(provider, "POST", "/system/secrets", json=secret).status_code == 202
    assert _deploy(provider, service="reads-secret", envProcess="cat /var/openfaas/secrets/api-key",
                   secrets=["api-key"]).status_code == 202
    _available(provider, "reads-secret")
    assert requests.post(f"{provider.url}/function/reads-secret", timeout=60).text == "first-value"
    [container] = _containers(provider, "reads-secret")
    mounts = {m["Destination"]: m for m in container["Mounts"]}
    assert mounts["/var/openfaas/secrets"]["RW"] is False
    # no redeploy: the running container reads the new value, as from a Kubernetes mount
    assert _api(provider, "PUT", "/system/secrets", json={**secret, "value": "second-value"}).status_code == 202
    assert requests.post(f"{provider.url}/function/reads-secret", timeout=60).text == "second-value"
    assert _api(provider, "DELETE", "/system/functions", json={"functionName": "reads-secret"}).status_code == 202
    assert _api(provider, "DELETE", "/system/secrets", json={"name": "api-key"}).status_code == 202


def test_an_image_that_is_nowhere_is_a_clear_400(provider):
    started = time.monotonic()
    response = _deploy(provider, service="nowhere", image="docker.io/nobody-here/nothing:1")
    error = response.json()["error"]
    assert response.status_code == 400 and error["code"] == "image_not_found", response.text
    assert "nobody-here/nothing" in error["message"] and time.monotonic() - started < 60
    assert _api(provider, "GET", "/system/function/nowhere").status_code == 404


def test_scaling_starts_and_stops_real_containers(provider):
    assert _deploy(provider, service="scaled", envProcess="sha512sum").status_code == 202
    _available(provider, "scaled")
    scale = lambda n: _api(provider, "POST", "/system/scale-function/scaled",  # noqa: E731
                           json={"serviceName": "scaled", "replicas": n, "namespace": "openfaas-fn"})
    assert scale(2).status_code == 202
    _available(provider, "scaled", 2)
    assert len(_containers(provider, "scaled")) == 2
    assert scale(0).status_code == 202
    _wait(lambda: _containers(provider, "scaled") == [])
    woken = requests.post(f"{provider.url}/function/scaled", data=b"", timeout=120)  # scale from zero
    assert woken.status_code == 200 and len(woken.text.split()[0]) == 128  # sha512 of nothing
    assert len(_containers(provider, "scaled")) == 1

"""`faasml up --containers` without podman: the arguments a replica's container runs
with, the image names it pulls by, and the relay that lets functions in containers reach
the gateway."""
from __future__ import annotations

import asyncio

import pytest

from faasml.errors import BadRequest
from faasml.runtime.containers import (MIN_MEMORY_BYTES, GatewayRelay, cpu_shares, memory_limit,
                                       qualified_image, run_arguments)
from faasml.runtime.nodes import Node
from faasml.runtime.replicas import Replica, free_port
from faasml.runtime.stack import FunctionSpec


def test_replica_container_is_published_on_the_loopback_with_its_node_and_weight():
    spec = FunctionSpec(name="f", image="localhost/faasml/f:1", requests={"cpu": "100m"},
                        environment={"FAASML_MODEL": "models/x.card.json"})
    replica = Replica(instance="f-1", node=Node(name="edge", cpus=frozenset({0, 1})), port=40123)
    args = run_arguments(spec, replica, replica.node, "faasml-f-1-abc", ["FAASML_MODEL"], "/state")
    assert args[0] == "run" and args[-1] == "localhost/faasml/f:1"
    joined = " ".join(args)
    assert "--publish 127.0.0.1:40123:8080" in joined and "--cpuset-cpus 0,1" in joined
    assert "--cpu-shares 102" in joined and "--env FAASML_MODEL " in joined  # value via podman's env
    assert "--pull never" in joined and "--rm" in args


def test_secrets_folder_is_mounted_read_only_where_a_cluster_mounts_secrets():
    spec = FunctionSpec(name="f", image="localhost/faasml/f:1")
    replica = Replica(instance="f-1", node=Node(name="edge"), port=40124)
    args = run_arguments(spec, replica, replica.node, "faasml-f-1-abc", [], "/state", "/state/mounts/f")
    assert "--volume /state/mounts/f:/var/openfaas/secrets:ro,U" in " ".join(args)
    assert "--volume" not in run_arguments(spec, replica, replica.node, "n", [], "/state")


def _flag(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def test_limits_become_the_containers_and_a_read_only_root_keeps_tmp():
    spec = FunctionSpec(name="f", image="functions/alpine:latest", env_process="sha512sum",
                        limits={"memory": "64Mi", "cpu": "500m"}, requests={"memory": "32Mi"},
                        read_only_root_filesystem=True)
    replica = Replica(instance="f-1", node=Node(name="local"), port=40125)
    args = run_arguments(spec, replica, replica.node, "n", [], "/state")
    assert _flag(args, "--memory") == str(64 << 20) and _flag(args, "--cpus") == "0.5"
    assert _flag(args, "--memory-reservation") == str(32 << 20)
    assert "--read-only" in args and _flag(args, "--tmpfs") == "/tmp"  # the watchdog's lock file
    assert "faas_function=f.openfaas-fn" in args and "--env" in args and "fprocess" in args
    spec.labels, spec.annotations = {"team": "a", "faasml.io/up": "spoofed"}, {"note": "x\ny"}
    args = run_arguments(spec, replica, replica.node, "n", [], "/state")
    labels = [value for flag, value in zip(args, args[1:]) if flag == "--label"]
    assert "team=a" in labels and "com.openfaas.annotations.note=x\ny" in labels
    assert labels[-2:] == ["faasml.io/up=/state", "faas_function=f.openfaas-fn"]  # the runtime's own win
    plain = run_arguments(FunctionSpec(name="g", image="x"), replica, replica.node, "n", [], "/state")
    assert not {"--memory", "--cpus", "--memory-reservation", "--read-only"} & set(plain)


def test_memory_limits_below_podmans_floor_are_raised_to_it():
    assert memory_limit({"memory": "5Mi"}) == MIN_MEMORY_BYTES == 6 << 20  # the certifier's 5Mi
    assert memory_limit({"memory": "1G"}) == 10 ** 9 and memory_limit({"cpu": "1"}) is None
    assert memory_limit(None) is None
    with pytest.raises(BadRequest, match="quantity"):
        memory_limit({"memory": "lots"})


def test_short_image_names_are_qualified_as_docker_reads_them():
    assert qualified_image("functions/alpine:latest") == "docker.io/functions/alpine:latest"
    assert qualified_image("alpine") == "docker.io/library/alpine:latest"
    assert qualified_image("theaxer/redirector") == "docker.io/theaxer/redirector:latest"
    for full in ("localhost/faasml/selector:latest", "ghcr.io/openfaas/figlet:latest",
                 "registry:5000/team/fn:1.2", "docker.io/functions/alpine:latest",
                 "ghcr.io/x/y@sha256:" + "a" * 64):
        assert qualified_image(full) == full
    assert qualified_image("localhost:5000/fn") == "localhost:5000/fn:latest"


def test_cpu_shares_follow_kubernetes():
    assert cpu_shares({"cpu": "1"}) == 1024 and cpu_shares({"cpu": "250m"}) == 256
    assert cpu_shares(None) == 1024 and cpu_shares({"cpu": "1m"}) == 2


def test_relay_carries_both_directions_to_the_gateway_port():
    async def scenario() -> bytes:
        async def gateway(reader, writer):
            request = await reader.readline()
            writer.write(b"gateway saw " + request)
            await writer.drain()
            writer.close()

        target = await asyncio.start_server(gateway, "127.0.0.1", 0)
        target_port = target.sockets[0].getsockname()[1]
        relay = GatewayRelay("127.0.0.1", free_port(), target_port)
        await relay.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
            writer.write(b"GET /system/functions\n")
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            return answer
        finally:
            relay.close()
            target.close()

    assert asyncio.run(scenario()) == b"gateway saw GET /system/functions\n"


def test_relay_closes_a_connection_when_the_gateway_is_down():
    async def scenario() -> bytes:
        relay = GatewayRelay("127.0.0.1", free_port(), free_port())  # nothing listens there
        await relay.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
            answer = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            return answer
        finally:
            relay.close()

    assert asyncio.run(scenario()) == b""

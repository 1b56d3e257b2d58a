"""`faasml up --containers` without podman: the arguments a replica's container runs
with, and the relay that lets functions in containers reach the gateway."""
from __future__ import annotations

import asyncio

from faasml.runtime.containers import GatewayRelay, cpu_shares, run_arguments
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

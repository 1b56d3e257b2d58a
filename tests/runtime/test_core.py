"""The framework-free core: stack parsing, nodes, placement, balancing, backoff, auth, metrics, logs."""
from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from faasml.errors import BadRequest
from faasml.runtime.auth import BasicAuth, load_basic_auth
from faasml.runtime.backoff import RestartBackoff
from faasml.runtime.balancer import LeastInFlight
from faasml.runtime.durations import parse_duration_seconds
from faasml.runtime.logstore import LogStore, parse_rfc3339
from faasml.runtime.metrics import GatewayMetrics
from faasml.runtime.nodes import Node, NodesFileError, load_nodes, parse_cpus
from faasml.runtime.openfaas import function_status, parse_delete, parse_deployment, parse_scale
from faasml.runtime.placement import (Constraint, choose_node, fitting_nodes, function_constraints,
                                      parse_constraint)
from faasml.runtime.stack import FunctionSpec, empty_stack, load_stack, normalize_image, substitute_env

REPO = Path(__file__).resolve().parents[2]


def test_stack_reads_functions_env_files_and_substitution(tmp_path):
    (tmp_path / "fn").mkdir()
    (tmp_path / "templates").symlink_to(REPO / "templates")
    (tmp_path / "extra.yml").write_text("environment:\n  A: from-file\n  B: file\n")
    (tmp_path / "stack.yml").write_text(
        "version: 1.0\nprovider: {name: openfaas}\nfunctions:\n"
        "  one:\n    lang: faasml-python3-http\n    handler: ./fn\n    image: x/one:${TAG:-dev}\n"
        "    namespace: team\n    environment: {A: inline, C: c}\n    environment_file: [extra.yml]\n"
        "    labels: {com.openfaas.scale.min: '3'}\n    constraints: [faasml.io/node-class=edge]\n"
        "  two:\n    lang: no-such-template\n    handler: ./fn\n    image: x/two\n")
    stack = load_stack(tmp_path / "stack.yml", env={})
    one = stack.functions["one"]
    assert one.image == "x/one:dev" and one.namespace == "team"
    assert one.environment == {"A": "from-file", "B": "file", "C": "c"}  # later files win
    assert one.min_replicas == 3 and one.qualified_name == "one.team"
    assert stack.sources["one"].handler_dir == (tmp_path / "fn").resolve()
    assert "two" in stack.problems and "no-such-template" in stack.problems["two"]
    assert stack.source_for_image("docker.io/x/one:dev") is stack.sources["one"]
    assert stack.source_for_image("x/two") is None


def test_stack_source_command_runs_this_interpreter_on_the_run_folder(tmp_path):
    (tmp_path / "fn").mkdir()
    (tmp_path / "stack.yml").write_text(
        "functions:\n  f: {lang: faasml-python3-http, handler: ./fn, image: i}\n")
    source = load_stack(tmp_path / "stack.yml").sources["f"]
    import sys
    assert source.command(tmp_path / "run") == [sys.executable, str(tmp_path / "run" / "index.py")]


def test_bad_stack_files_are_clear_errors(tmp_path):
    (tmp_path / "stack.yml").write_text("provider: {name: swarm}\nfunctions: {}\n")
    with pytest.raises(BadRequest, match="provider.name"):
        load_stack(tmp_path / "stack.yml")
    (tmp_path / "stack.yml").write_text("functions: [1, 2]\n")
    with pytest.raises(BadRequest, match="functions"):
        load_stack(tmp_path / "stack.yml")
    (tmp_path / "stack.yml").write_text("provider: {name: openfaas}\n")
    with pytest.raises(BadRequest, match="functions"):
        load_stack(tmp_path / "stack.yml")


def test_a_stack_with_no_functions_is_an_empty_provider(tmp_path):
    for text in ("functions:\n", "functions: {}\n", "version: 1.0\nprovider: {name: openfaas}\nfunctions:\n"):
        (tmp_path / "stack.yml").write_text(text)
        stack = load_stack(tmp_path / "stack.yml")
        assert stack.functions == {} and stack.known_images() == [] and stack.source_for_image("x") is None
    empty = empty_stack(tmp_path / "absent.yml")
    assert empty.functions == {} and empty.folder == tmp_path.resolve()


def test_env_substitution_and_image_normalisation():
    assert substitute_env("${A}-${B:-dflt}-${C}", {"A": "a"}) == "a-dflt-"
    assert normalize_image("docker.io/library/x") == normalize_image("x:latest") == "x:latest"
    assert normalize_image("ghcr.io/o/x:1") == "ghcr.io/o/x:1"


def test_durations():
    assert parse_duration_seconds("30s") == 30
    assert parse_duration_seconds("1m30s") == 90
    assert parse_duration_seconds("500ms") == 0.5
    assert parse_duration_seconds("2") == 2
    with pytest.raises(ValueError):
        parse_duration_seconds("10 parsecs")


def test_nodes_file_cpus_and_warnings(tmp_path):
    usable = sorted(os.sched_getaffinity(0))
    assert parse_cpus("0-2,5") == {0, 1, 2, 5}
    assert parse_cpus("all") == frozenset() and parse_cpus([1, 2]) == {1, 2}
    assert parse_cpus(f"{usable[0]}-") == set(range(usable[0], max(usable) + 1))
    with pytest.raises(NodesFileError):
        parse_cpus("zero")
    (tmp_path / "nodes.yml").write_text(
        f"nodes:\n  - {{name: a, labels: {{k: v}}, cpus: '{usable[0]}', rtt_ms: 20}}\n"
        "  - {name: b, cpus: '4000'}\n")
    nodes, warnings = load_nodes(tmp_path / "nodes.yml")
    assert nodes[0] == Node("a", {"k": "v"}, frozenset({usable[0]}), 20.0)
    assert nodes[1].cpus == frozenset() and "4000" in warnings[0]
    (tmp_path / "dup.yml").write_text("nodes: [{name: a}, {name: a}]\n")
    with pytest.raises(NodesFileError, match="unique"):
        load_nodes(tmp_path / "dup.yml")


def test_edge_nodes_file_in_the_repo_splits_the_machine():
    nodes, _ = load_nodes(REPO / "edge" / "nodes.local.yml")
    assert [n.labels["faasml.io/node-class"] for n in nodes] == ["edge", "cloud", "control"]
    if len(os.sched_getaffinity(0)) > 1:
        assert not nodes[0].cpus & nodes[1].cpus


def test_constraints_match_node_labels_in_both_spellings():
    assert parse_constraint("faasml.io/node-class=edge") == Constraint("faasml.io/node-class", "edge")
    assert parse_constraint("node.labels.zone == a") == Constraint("zone", "a")
    assert parse_constraint("zone!=a").allows({"zone": "b"})
    with pytest.raises(BadRequest):
        parse_constraint("just words")
    edge = Node("edge", {"faasml.io/node-class": "edge"})
    cloud = Node("cloud", {"faasml.io/node-class": "cloud"})
    by_annotation = function_constraints([], {"faasml.io/node-class": "cloud"})
    assert fitting_nodes([edge, cloud], by_annotation) == [cloud]
    conflicting = function_constraints(["faasml.io/node-class=edge"], {"faasml.io/node-class": "cloud"})
    assert fitting_nodes([edge, cloud], conflicting) == []
    assert fitting_nodes([edge, cloud], []) == [edge, cloud]


def test_replicas_spread_over_fitting_nodes():
    a, b = Node("a"), Node("b")
    assert choose_node([a, b], {"a": 1}, {}) is b
    assert choose_node([a, b], {}, {"a": 3, "b": 1}) is b
    assert choose_node([a, b], {"a": 1, "b": 1}, {"a": 1, "b": 5}) is a


class _Replica:
    def __init__(self, in_flight: int, routable: bool = True):
        self.in_flight, self.routable = in_flight, routable


def test_least_in_flight_skips_unready_and_rotates_ties():
    balancer = LeastInFlight()
    busy, idle, unready = _Replica(3), _Replica(1), _Replica(0, routable=False)
    assert balancer.choose([busy, idle, unready]) is idle
    assert balancer.choose([unready]) is None
    twins = [_Replica(0), _Replica(0)]
    assert {id(balancer.choose(twins)) for _ in range(4)} == {id(t) for t in twins}


def test_backoff_grows_caps_and_resets_after_a_healthy_run():
    backoff = RestartBackoff(initial_s=0.5, factor=2, max_s=2, healthy_after_s=30)
    assert [backoff.delay_after_exit(0.1) for _ in range(4)] == [0.5, 1.0, 2.0, 2.0]
    assert backoff.delay_after_exit(60) == 0.5


def test_basic_auth_accepts_only_the_admin_password(tmp_path):
    auth = BasicAuth("admin", "s3cret", "test")
    good = "Basic " + base64.b64encode(b"admin:s3cret").decode()
    assert auth.allows(good)
    assert not auth.allows("Basic " + base64.b64encode(b"admin:wrong").decode())
    assert not auth.allows("Bearer ") and not auth.allows(None) and not auth.allows("Basic !!!")
    generated = load_basic_auth(tmp_path)
    assert (tmp_path / "basic-auth-password").read_text() == generated.password
    assert oct((tmp_path / "basic-auth-password").stat().st_mode & 0o777) == "0o600"
    assert generated.generated and generated.file == tmp_path / "basic-auth-password"
    reused = load_basic_auth(tmp_path)
    assert reused.password == generated.password and not reused.generated
    assert load_basic_auth(tmp_path, "p").password == "p"


def test_metrics_render_gateway_names_and_labels():
    metrics = GatewayMetrics()
    for seconds, code in ((0.003, 200), (0.2, 200), (20.0, 502)):
        metrics.started("echo.openfaas-fn")
        metrics.finished("echo.openfaas-fn", code, seconds)
    metrics.started("echo.openfaas-fn")  # still in flight
    metrics.set_replicas("echo.openfaas-fn", 2, 1)
    text = metrics.render()
    assert 'gateway_function_invocation_started{function_name="echo.openfaas-fn"} 4' in text
    assert 'gateway_function_invocation_total{function_name="echo.openfaas-fn",code="200"} 2' in text
    assert 'gateway_function_invocation_total{function_name="echo.openfaas-fn",code="502"} 1' in text
    assert 'gateway_functions_seconds_bucket{code="200",function_name="echo.openfaas-fn",le="0.005"} 1' in text
    assert 'gateway_functions_seconds_bucket{code="200",function_name="echo.openfaas-fn",le="0.25"} 2' in text
    assert 'gateway_functions_seconds_bucket{code="502",function_name="echo.openfaas-fn",le="10"} 0' in text
    assert 'gateway_functions_seconds_count{code="502",function_name="echo.openfaas-fn"} 1' in text
    assert 'gateway_service_count{function_name="echo.openfaas-fn"} 2' in text
    assert 'gateway_function_invocation_inflight{function_name="echo.openfaas-fn"} 1' in text
    assert metrics.invocation_count("echo.openfaas-fn") == 3


def test_log_store_filters_tails_and_notifies(tmp_path):
    clock = iter(range(1000, 2000)).__next__
    logs = LogStore(tmp_path, clock=lambda: float(clock()))
    seen = []
    stop = logs.subscribe("f", "ns", seen.append)
    for i in range(5):
        logs.append("f", "ns", f"f-{i % 2}", f"line {i}")
    stop()
    logs.append("f", "ns", "f-0", "after unsubscribe")
    assert [r["text"] for r in seen] == [f"line {i}" for i in range(5)]
    assert [r["text"] for r in logs.read("f", "ns", tail=2)] == ["line 4", "after unsubscribe"]
    assert [r["text"] for r in logs.read("f", "ns", instance="f-1")] == ["line 1", "line 3"]
    since = parse_rfc3339(logs.read("f", "ns")[3]["timestamp"])
    assert len(logs.read("f", "ns", since_s=since)) == 3
    record = json.loads(logs.path("f", "ns").read_text().splitlines()[0])
    assert set(record) == {"name", "namespace", "instance", "timestamp", "text"}
    assert parse_rfc3339("2026-01-01T00:00:00.123456789Z") == pytest.approx(1767225600.123456)


def test_openfaas_bodies_are_validated():
    spec = parse_deployment(json.dumps({
        "service": "echo", "image": "x/echo", "envVars": {"A": "1"}, "labels": {"l": "v"},
        "annotations": {"a": "b"}, "constraints": ["k=v"], "namespace": "openfaas-fn"}).encode())
    assert (spec.name, spec.image, spec.environment, spec.constraints) == ("echo", "x/echo", {"A": "1"}, ["k=v"])
    for bad in (b"{not json", b"[]", b'{"service": "Bad_Name", "image": "x"}', b'{"service": "ok"}',
                b'{"service": "ok", "image": "x", "envVars": {"A": 1}}'):
        with pytest.raises(BadRequest):
            parse_deployment(bad)
    # Go clients (the certifier, faas-cli) send unset FunctionResources fields as "": none asked
    spec = parse_deployment(json.dumps({"service": "m", "image": "x", "limits": {"memory": "5Mi", "cpu": ""},
                                        "requests": {"memory": "", "cpu": ""}}).encode())
    assert spec.limits == {"memory": "5Mi"} and spec.requests is None
    assert parse_delete(b'{"functionName": "echo"}') == ("echo", None)
    assert parse_scale(b'{"serviceName": "echo", "replicas": 3, "namespace": "n"}') == (3, "n")
    for bad in (b'{}', b'{"replicas": -1}', b'{"replicas": true}', b'oops'):
        with pytest.raises(BadRequest):
            parse_scale(bad)


def test_function_status_echoes_the_deployment_and_names_the_function_in_its_labels():
    spec = FunctionSpec(name="env-test", image="docker.io/functions/alpine:latest", env_process="env",
                        labels={"canary_build": "true"}, limits={"memory": "5Mi", "cpu": "100m"})
    status = function_status(spec, replicas=1, available_replicas=0, invocation_count=0, created_at="t")
    assert status["labels"] == {"canary_build": "true", "faas_function": "env-test"}  # as faas-netes
    assert status["limits"] == {"memory": "5Mi", "cpu": "100m"} and status["envProcess"] == "env"
    assert "requests" not in status and "envVars" not in status and "constraints" not in status
    assert spec.labels == {"canary_build": "true"}  # the deployment itself is left as it was

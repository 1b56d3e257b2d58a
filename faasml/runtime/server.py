"""`faasml up`: wire stack, nodes, auth, logs, metrics, provider and gateway, and serve."""
from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from faasml.background import Background
from faasml.errors import FaasmlError
from faasml.runtime.async_api import AsyncApi
from faasml.runtime.async_queue import AsyncQueue, AsyncSettings
from faasml.runtime.auth import load_basic_auth
from faasml.runtime.autoscaler import Autoscaler, AutoscaleSettings
from faasml.runtime.direct_calls import DirectCallCollector
from faasml.runtime.config import RuntimeConfig
from faasml.runtime.gateway import GatewayApi, build_app
from faasml.runtime.listener import GatewayLimits, listen
from faasml.runtime.logstore import RUNTIME_INSTANCE, LogStore
from faasml.runtime.metrics import GatewayMetrics
from faasml.runtime.nodes import Node, load_nodes, single_node
from faasml.runtime.provider import LocalProvider
from faasml.runtime.readiness import ReadinessProbe
from faasml.runtime.proxy import FunctionProxy
from faasml.runtime.secret_store import BUILTIN_BASIC_AUTH, SecretStore
from faasml.runtime.revision import current_revision
from faasml.runtime.stack import Stack, empty_stack, load_stack
from faasml.runtime.supervisor import SupervisorContext
from faasml.upstream import UpstreamPool
from faasml.settings import load

DEFAULT_NODES_FILE = Path("edge") / "nodes.local.yml"


def resolve_nodes(config: RuntimeConfig, stack: Stack) -> tuple[list[Node], list[str], str]:
    path = config.nodes_path
    if path is None and (stack.folder / DEFAULT_NODES_FILE).is_file():
        path = stack.folder / DEFAULT_NODES_FILE
    if path is None:
        return [single_node()], [], "one node (no nodes file)"
    nodes, warnings = load_nodes(path)
    return nodes, warnings, str(path)


async def run(config: RuntimeConfig, stop: asyncio.Event | None = None) -> None:
    async_settings, autoscale_settings = load(AsyncSettings), load(AutoscaleSettings)
    stack = _load_stack(config)
    nodes, warnings, nodes_source = resolve_nodes(config, stack)
    state_dir = (config.state_dir or stack.folder / ".faasml").resolve()
    auth = load_basic_auth(state_dir, config.password)
    gateway_url = f"http://{config.host}:{config.port}"
    metrics = GatewayMetrics()
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=10.0),
        auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar())
    context = SupervisorContext(
        stack_folder=stack.folder, logs=LogStore(state_dir / "logs"),
        probe=ReadinessProbe(session, config.supervision.probe),
        # Lets a function (the selector) call the gateway it runs behind, as it would in a cluster.
        # Its credential reaches only functions that name the `basic-auth` secret, as files.
        # The metrics URL too: it wins over the cluster's that stack.yml names.
        runtime_env={"FAASML_GATEWAY_URL": gateway_url, "OPENFAAS_URL": gateway_url,
                     "FAASML_GATEWAY_METRICS_URL": f"{gateway_url}/metrics"},
        settings=config.supervision, replicas_per_node=dict, on_change=lambda: None)
    secrets = SecretStore(state_dir, {BUILTIN_BASIC_AUTH: {"basic-auth-user": auth.user,
                                                           "basic-auth-password": auth.password}})
    provider = LocalProvider(stack, nodes, state_dir, context, metrics, secrets)
    limits = load(GatewayLimits)
    upstream = UpstreamPool(max_response_bytes=int(limits.max_response_mb * (1 << 20)))
    proxy = FunctionProxy(provider, metrics, upstream, config, limits)
    queue = AsyncQueue(state_dir / "async-queue.sqlite", async_settings, _queued_invoker(proxy), session,
                       lambda function, text: _log_runtime(provider, function, text))
    autoscaler = Autoscaler(lambda: list(provider.functions.values()), metrics, autoscale_settings)
    direct_calls = DirectCallCollector(provider, metrics, upstream)
    proxy.wake = autoscaler.wake  # scale from zero, counted as the autoscaler's event
    background = Background("faasml up")
    metrics.collectors += [queue.metric_families, autoscaler.metric_families, background.metric_families]
    api = GatewayApi(provider, proxy, auth, metrics, AsyncApi(provider, queue, config.max_body_bytes, limits),
                     background)
    app = build_app(api, config.max_body_bytes)
    # A short shutdown: `follow` log streams would otherwise hold a stop for a minute.
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=3.0)
    await runner.setup()
    left = await queue.open()
    listener = None
    stop = stop or _stop_on_signals()
    containers = None
    try:
        if config.containers:  # replicas from their images (faasml/runtime/containers.py)
            from faasml.runtime.containers import start_containers
            containers = await start_containers(config.containers, context.runtime_env, config.port, state_dir)
            context.launcher = containers.launcher
        # Listening only now: a deploy that arrived before the launcher was set would be
        # judged as for local processes.
        listener = await listen(runner, config.host, config.port, limits)
        _announce(config, stack, nodes, warnings, nodes_source, auth, gateway_url, state_dir)
        if not config.empty:
            _deploy_stack(provider, stack, config.only)
        queue.run(background)
        autoscaler.start(background)
        counting = direct_calls.start(background)
        if left:
            print(f"faasml up: {left} async call(s) left unfinished by the last run: delivering them",
                  flush=True)
        announcing = asyncio.ensure_future(_announce_when_ready(provider, gateway_url))
        await stop.wait()
        announcing.cancel()
        counting.cancel()
    finally:
        print("faasml up: stopping replicas", flush=True)
        await autoscaler.close()
        await queue.close()
        await provider.stop_all()
        if containers is not None:
            await asyncio.to_thread(containers.close)
        if listener is not None:
            listener.close()
        await runner.cleanup()
        upstream.close()
        await session.close()
        context.logs.close()


def _load_stack(config: RuntimeConfig) -> Stack:
    """The stack; with `--empty` none need exist (its handlers, when it does, stay
    deployable by image in process mode, e.g. `faas-cli deploy -f stack.yml`)."""
    if config.empty and not config.stack_path.exists():
        return empty_stack(config.stack_path)
    return load_stack(config.stack_path)


def _queued_invoker(proxy: FunctionProxy):
    """Runs a queued call through the gateway's own path, stamped with its acceptance time
    (X-Start-Time), so a selector's deadline runs from when the call was accepted."""
    async def invoke(call):
        headers = [*call.headers, ("X-Call-Id", call.call_id), ("X-Start-Time", str(call.accepted_ns)),
                   ("X-Faasml-Queued", "1")]
        started = time.perf_counter()
        response = await proxy.call(call.function, call.method, call.target, headers, call.body)
        return response.status, list(response.headers.items()), response.body or b"", time.perf_counter() - started
    return invoke


def _log_runtime(provider: LocalProvider, function: str, text: str) -> None:
    """A line in the function's log (`faas-cli logs`) and the runtime's output."""
    name, _, namespace = function.partition(".")
    provider.logs.append(name, namespace, RUNTIME_INSTANCE, text)
    print(f"[{function}] {text}", flush=True)


async def _announce_when_ready(provider: LocalProvider, gateway_url: str, timeout_s: float = 120.0) -> None:
    """Tell the person who ran `make run` where to send requests, once there is somewhere."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    def waiting() -> list[str]:
        return [s.spec.qualified_name for s in provider.functions.values()
                if not s.unschedulable and s.desired_replicas > 0 and s.available_replicas() == 0]
    while waiting() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.2)
    serving = [s for s in provider.functions.values() if s.available_replicas() > 0]
    lines = [f"faasml up: {len(serving)}/{len(provider.functions)} functions serving:"]
    lines += [f"  {gateway_url}/function/{s.spec.name}" for s in serving]
    lines += [f"  not ready after {timeout_s:g}s: {name} (see its log)" for name in waiting()]
    lines += [f"  unschedulable: {s.spec.qualified_name}" for s in provider.functions.values()
              if s.unschedulable]
    print("\n".join(lines), flush=True)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def _deploy_stack(provider: LocalProvider, stack: Stack, only: tuple[str, ...]) -> None:
    for name in sorted(set(only) - set(stack.functions)):
        print(f"faasml up: --filter {name}: no such function in {stack.path.name}", flush=True)
    for name, spec in stack.functions.items():
        if only and name not in only:
            continue
        if name in stack.problems:
            print(f"[{spec.qualified_name}] NOT RUNNABLE LOCALLY, skipped: {stack.problems[name]}", flush=True)
            continue
        try:
            provider.deploy(spec, stack.sources[name])
        except FaasmlError as exc:  # e.g. a malformed constraint: the others still start
            print(f"[{spec.qualified_name}] NOT DEPLOYED: {exc.message}", flush=True)


def _announce(config, stack, nodes, warnings, nodes_source, auth, gateway_url, state_dir) -> None:
    revision = current_revision()
    functions = "no functions (--empty)" if config.empty else f"stack {stack.path}"
    runs = f"containers on {config.containers}" if config.containers else "local processes"
    lines = [f"faasml up: gateway on {gateway_url} ({functions}, {runs}, nodes from {nodes_source}; "
             f"faasml {revision.release}, {revision.sha[:12]})"]
    lines += [f"  node {n.describe()}" for n in nodes]
    lines += [f"  warning: {w}" for w in warnings]
    if auth.generated:   # the file is the one copy: a password never goes to a log
        lines.append(f"  basic auth for /system/* and /ui/: user {auth.user}, password generated into {auth.file} "
                     f"(readable by you only)")
    else:
        lines.append(f"  basic auth for /system/* and /ui/: user {auth.user}, password from {auth.source}")
    stdin = f" < {auth.file}" if auth.file else ""
    lines.append(f"  dashboard: {gateway_url}/ui/ (user {auth.user}, the password "
                 f"{'in ' + str(auth.file) if auth.file else 'from ' + auth.source})")
    lines.append(f"  faas-cli login -g {gateway_url} -u {auth.user} --password-stdin{stdin}")
    lines.append(f"  invoke: curl --data-binary @FILE {gateway_url}/function/<name>; "
                 f"logs in {state_dir / 'logs'}")
    print("\n".join(lines), flush=True)

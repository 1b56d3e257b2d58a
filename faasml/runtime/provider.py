"""The faas-provider of one machine: the registry of deployed functions and its operations.

Deploy, update, remove, scale and status, as faas-netes does them; each function is a
`FunctionSupervisor`. As local processes (the default), a function runs from a handler of
the stack: only images that the stack maps to a handler can be deployed. With
`--containers podman`, as faasd does on containerd, any image runs: one in podman's local
storage, or pulled where a registry is reachable (faasml/runtime/containers.py).
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from faasml import errors as codes
from faasml.errors import BadRequest, NotFound
from faasml.function_secrets import SECRETS_DIR_ENV
from faasml.runtime.logstore import RUNTIME_INSTANCE, LogStore
from faasml.runtime.metrics import GatewayMetrics
from faasml.runtime.names import path_part
from faasml.runtime.nodes import Node
from faasml.runtime.openfaas import ORCHESTRATION, check_name, function_status
from faasml.runtime.placement import fitting_nodes, function_constraints, unschedulable_reason
from faasml.runtime.replicas import prepare_run_dir
from faasml.runtime.resources import check_resources
from faasml.runtime.secret_store import SecretStore
from faasml.runtime.stack import DEFAULT_NAMESPACE, FunctionSpec, LocalSource, Stack
from faasml.runtime.supervisor import FunctionSupervisor, SupervisorContext

FunctionKey = tuple[str, str]  # (name, namespace)
# A guard against typos like 1000: every replica is a process on this one machine.
MAX_REPLICAS = 64


class LocalProvider:
    def __init__(self, stack: Stack, nodes: list[Node], state_dir: Path, context: SupervisorContext,
                 metrics: GatewayMetrics, secrets: SecretStore | None = None):
        self.stack, self.nodes, self.state_dir = stack, nodes, state_dir
        self.secrets = secrets or SecretStore(state_dir, {})
        self.context, self.metrics = context, metrics
        self.functions: dict[FunctionKey, FunctionSupervisor] = {}
        self._background: set[asyncio.Future] = set()  # removals still stopping replicas
        context.replicas_per_node = self._replicas_per_node
        context.on_change = self.refresh_gauges
        context.function_env = self._function_env

    @property
    def logs(self) -> LogStore:
        return self.context.logs

    # --- lookups -------------------------------------------------------------------

    def get(self, name: str, namespace: str | None = None) -> FunctionSupervisor:
        supervisor = self.functions.get((name, namespace or DEFAULT_NAMESPACE))
        if supervisor is None:
            raise NotFound(f"function {name}.{namespace or DEFAULT_NAMESPACE} is not deployed",
                           code=codes.FUNCTION_NOT_FOUND)
        return supervisor

    def namespaces(self) -> list[str]:
        return sorted({DEFAULT_NAMESPACE, *(ns for _, ns in self.functions)})

    def check_namespace(self, namespace: str | None) -> str:
        namespace = namespace or DEFAULT_NAMESPACE
        if namespace not in self.namespaces():
            raise BadRequest(f"namespace {namespace!r} is not valid; known: {self.namespaces()}",
                             code=codes.BAD_NAMESPACE)
        return namespace

    def status(self, supervisor: FunctionSupervisor, usage: bool = False) -> dict[str, Any]:
        spec = supervisor.spec
        return function_status(
            spec,
            replicas=supervisor.desired_replicas,
            available_replicas=supervisor.available_replicas(),
            invocation_count=self.metrics.invocation_count(spec.qualified_name),
            created_at=supervisor.created_at,
            usage=supervisor.usage() if usage else None,
            local=supervisor.local_status(),
        )

    def list_status(self, namespace: str | None) -> list[dict[str, Any]]:
        namespace = self.check_namespace(namespace)
        return [self.status(s) for (_, ns), s in sorted(self.functions.items()) if ns == namespace]

    # --- operations ----------------------------------------------------------------

    @property
    def in_containers(self) -> bool:
        return self.context.launcher is not None

    @property
    def orchestration(self) -> str:
        """ProviderInfo's `orchestration`: what runs the replicas."""
        return self.context.launcher.engine if self.in_containers else ORCHESTRATION

    def _resolve(self, spec: FunctionSpec, source: LocalSource | None
                 ) -> tuple[LocalSource | None, Path | None, list[Node], str | None]:
        """What a deploy runs: the stack's handler for its image (None: the image itself, in
        containers), where the run folder is, the nodes it fits, and why none fits."""
        self._check_replicas(spec.min_replicas)
        check_resources(spec)
        from_api = source is None
        if source is None:
            source = self.stack.source_for_image(spec.image)
        if source is None and not self.in_containers:
            known = ", ".join(self.stack.known_images()) or "none"
            raise BadRequest(
                f"image {spec.image!r} is not built from a handler in {self.stack.path.name}: as local "
                f"processes `faasml up` runs the stack's handlers only (images it can run: {known}); "
                f"start it with `--containers podman` to run any image, as faasd does",
                code=codes.IMAGE_NOT_LOCAL)
        constraints = function_constraints(spec.constraints, spec.annotations)
        nodes = fitting_nodes(self.nodes, constraints)
        reason = None if nodes else unschedulable_reason(self.nodes, constraints)
        self._mount_secrets(spec, strict=from_api)
        run_dir = None
        if source is not None:
            run_dir = prepare_run_dir(self.state_dir / "run" / path_part(spec.qualified_name, "function name"), source)
        return source, run_dir, nodes, reason

    async def deploy_request(self, spec: FunctionSpec) -> FunctionSupervisor:
        """POST /system/functions: in containers, the image is made present first (pulled
        where it is not in local storage), so a deploy of an image that cannot run is a 400."""
        check_resources(spec)
        await self._ensure_image(spec)
        return self.deploy(spec)

    async def update_request(self, spec: FunctionSpec) -> None:
        """PUT /system/functions: 404 for an unknown function before any pull."""
        self.get(spec.name, spec.namespace)
        check_resources(spec)
        await self._ensure_image(spec)
        self.update(spec)

    async def _ensure_image(self, spec: FunctionSpec) -> None:
        if self.in_containers:
            await asyncio.to_thread(self.context.launcher.ensure_image, spec.image)

    def deploy(self, spec: FunctionSpec, source: LocalSource | None = None) -> FunctionSupervisor:
        """Create a function (POST /system/functions); an existing one is updated, as faasd does."""
        key = (spec.name, spec.namespace)
        if key in self.functions:
            self.update(spec, source)
            return self.functions[key]
        source, run_dir, nodes, reason = self._resolve(spec, source)
        supervisor = FunctionSupervisor(self.context, spec, source, run_dir, nodes, reason)
        self.functions[key] = supervisor
        what = f"{source.lang}, handler {source.handler_dir}" if source else "its own entrypoint"
        where = "in containers" if self.in_containers else "as processes"
        supervisor.log(f"deployed image {spec.image} ({what}) {where}; "
                       f"{supervisor.desired_replicas} replica(s) on {[n.name for n in nodes] or 'no node'}")
        supervisor.start()
        self.refresh_gauges()
        return supervisor

    def update(self, spec: FunctionSpec, source: LocalSource | None = None) -> None:
        """PUT /system/functions: 404 when absent (faas-cli then POSTs)."""
        supervisor = self.get(spec.name, spec.namespace)
        source, run_dir, nodes, reason = self._resolve(spec, source)
        supervisor.log(f"updating to image {spec.image}")
        supervisor.replace(spec, source, run_dir, nodes, reason)

    def remove(self, name: str, namespace: str | None) -> None:
        """Unroute at once; replicas drain and stop in the background."""
        supervisor = self.get(name, namespace)
        del self.functions[(supervisor.spec.name, supervisor.spec.namespace)]
        supervisor.log("removed")
        self.metrics.set_replicas(supervisor.spec.qualified_name, None, None)
        self.secrets.unmount(supervisor.spec.qualified_name)
        stopping = asyncio.ensure_future(supervisor.stop())
        self._background.add(stopping)
        stopping.add_done_callback(self._background.discard)

    # --- secrets -------------------------------------------------------------------

    def _function_env(self, spec: FunctionSpec) -> dict[str, str]:
        if not spec.secrets:
            return {}
        return {SECRETS_DIR_ENV: str(self.secrets.mount_dir(spec.qualified_name))}

    def _mount_secrets(self, spec: FunctionSpec, strict: bool) -> None:
        """Write the function's secrets folder. A deploy through the API that names a
        missing secret is refused, as faas-netes refuses it; a stack function starts
        without it (warned), and gets it once `faas-cli secret create` makes it."""
        if strict:
            missing = [n for n in spec.secrets if not self.secrets.exists(spec.namespace, n)]
            if missing:
                raise BadRequest(f"secrets {missing} not found in namespace {spec.namespace}; "
                                 f"create them first (faas-cli secret create)", code=codes.SECRET_NOT_FOUND)
        missing = self.secrets.mount(spec.qualified_name, spec.namespace, spec.secrets)
        if missing:
            text = (f"secrets {missing} not found in {spec.namespace}: not mounted until "
                    f"`faas-cli secret create` makes them")
            self.logs.append(spec.name, spec.namespace, RUNTIME_INSTANCE, text)
            print(f"[{spec.qualified_name}] {text}", flush=True)

    def secret_changed(self, namespace: str, name: str) -> None:
        """Re-mount a created, updated or removed secret into every function naming it
        (replicas read it anew on their next read of the file, as with a Kubernetes mount)."""
        for supervisor in self.functions.values():
            spec = supervisor.spec
            if spec.namespace == namespace and name in spec.secrets:
                self.secrets.mount(spec.qualified_name, spec.namespace, spec.secrets)

    def scale(self, name: str, namespace: str | None, replicas: int) -> None:
        check_name(name, "function name")
        self._check_replicas(replicas)
        self.get(name, namespace).scale(replicas)

    @staticmethod
    def _check_replicas(replicas: int) -> None:
        if replicas > MAX_REPLICAS:
            raise BadRequest(f"replicas {replicas} is over this runtime's limit of {MAX_REPLICAS}",
                             code=codes.TOO_MANY_REPLICAS)

    async def stop_all(self) -> None:
        stopping = [s.stop() for s in self.functions.values()]
        await asyncio.gather(*stopping, *self._background, return_exceptions=True)

    # --- bookkeeping ---------------------------------------------------------------

    def _replicas_per_node(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for supervisor in self.functions.values():
            for replica in supervisor.all_replicas():
                counts[replica.node.name] = counts.get(replica.node.name, 0) + 1
        return counts

    def refresh_gauges(self) -> None:
        for supervisor in self.functions.values():
            self.metrics.set_replicas(supervisor.spec.qualified_name, supervisor.desired_replicas,
                                      supervisor.available_replicas())

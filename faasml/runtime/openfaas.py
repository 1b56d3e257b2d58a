"""The faas-provider JSON shapes: deploy/delete/scale bodies in, function status out.

Field names and omit-when-empty rules follow faas-provider's Go types, so faas-cli and a
stock gateway read our answers as they read faas-netes's.
"""
from __future__ import annotations

import json
import re
from typing import Any

from faasml import errors as codes
from faasml.errors import BadRequest
from faasml.runtime.revision import Revision
from faasml.runtime.stack import DEFAULT_NAMESPACE, FunctionSpec

# Kubernetes DNS-1123 label: what faas-netes accepts as a function or namespace name.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
PROVIDER_NAME = "faasml"
ORCHESTRATION = "local-processes"   # `faasml up`; with `--containers podman`: "podman"
FUNCTION_LABEL = "faas_function"


def parse_json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        document = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"{what}: body is not valid JSON: {exc}", code=codes.BAD_JSON) from exc
    if not isinstance(document, dict):
        raise BadRequest(f"{what}: body must be a JSON object", code=codes.BAD_JSON)
    return document


def check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or len(name) > 63 or not _DNS_LABEL.match(name):
        raise BadRequest(f"{what} {name!r} is not a valid DNS-1123 label (a-z, 0-9, '-')",
                         code=codes.BAD_NAME)
    return name


def _string_map(value: Any, field_name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise BadRequest(f"`{field_name}` must be an object of strings", code=codes.BAD_FIELD)
    return dict(value)


def _resources(value: Any, field_name: str) -> dict[str, str] | None:
    """FunctionResources (`memory`, `cpu`): Go clients send empty strings for unset fields,
    which mean nothing is asked, so they are dropped (and an all-empty object is none)."""
    return {k: v for k, v in _string_map(value, field_name).items() if v.strip()} or None


def _string_list(value: Any, field_name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"`{field_name}` must be a list of strings", code=codes.BAD_FIELD)
    return list(value)


def parse_deployment(body: bytes) -> FunctionSpec:
    """A FunctionDeployment body (`service`, `image`, ...) as a FunctionSpec."""
    document = parse_json_object(body, "deploy")
    service = check_name(document.get("service") or "", "service")
    image = document.get("image")
    if not isinstance(image, str) or not image.strip():
        raise BadRequest("`image` is required", code=codes.BAD_FIELD)
    limits, requests = document.get("limits"), document.get("requests")
    return FunctionSpec(
        name=service,
        image=image.strip(),
        namespace=check_name(document.get("namespace") or DEFAULT_NAMESPACE, "namespace"),
        environment=_string_map(document.get("envVars"), "envVars"),
        labels=_string_map(document.get("labels"), "labels"),
        annotations=_string_map(document.get("annotations"), "annotations"),
        constraints=_string_list(document.get("constraints"), "constraints"),
        secrets=_string_list(document.get("secrets"), "secrets"),
        env_process=str(document.get("envProcess") or ""),
        limits=_resources(limits, "limits"),
        requests=_resources(requests, "requests"),
        read_only_root_filesystem=bool(document.get("readOnlyRootFilesystem", False)),
    )


def parse_delete(body: bytes) -> tuple[str, str | None]:
    """(functionName, namespace or None) of a DeleteFunctionRequest."""
    document = parse_json_object(body, "delete")
    name = document.get("functionName")
    if not isinstance(name, str) or not name:
        raise BadRequest("`functionName` is required", code=codes.BAD_FIELD)
    namespace = document.get("namespace")
    return name, namespace if isinstance(namespace, str) and namespace else None


def parse_scale(body: bytes) -> tuple[int, str | None]:
    """(replicas, namespace or None) of a ScaleServiceRequest."""
    document = parse_json_object(body, "scale")
    replicas = document.get("replicas")
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
        raise BadRequest("`replicas` must be a non-negative integer", code=codes.BAD_FIELD)
    namespace = document.get("namespace")
    return replicas, namespace if isinstance(namespace, str) and namespace else None


def function_status(spec: FunctionSpec, *, replicas: int, available_replicas: int,
                    invocation_count: int, created_at: str,
                    usage: dict[str, float] | None = None,
                    local: dict[str, Any] | None = None) -> dict[str, Any]:
    """A FunctionStatus; `local` adds a `faasml` object (nodes, per-replica state) that Go
    clients ignore and the selector may read. Labels carry `faas_function` (the function's
    name), which faas-netes puts on every function and OpenFaaS's conformance suite expects."""
    status: dict[str, Any] = {
        "name": spec.name,
        "image": spec.image,
        "namespace": spec.namespace,
        "invocationCount": invocation_count,
        "replicas": replicas,
        "availableReplicas": available_replicas,
        "createdAt": created_at,
        "labels": {**spec.labels, FUNCTION_LABEL: spec.name},
        "annotations": dict(spec.annotations),
    }
    optional = {"envProcess": spec.env_process, "envVars": spec.environment,
                "constraints": spec.constraints, "secrets": spec.secrets,
                "limits": spec.limits, "requests": spec.requests,
                "readOnlyRootFilesystem": spec.read_only_root_filesystem, "usage": usage}
    status.update({k: v for k, v in optional.items() if v})
    if local is not None:
        status["faasml"] = local
    return status


def gateway_info(revision: Revision, arch: str, orchestration: str = ORCHESTRATION) -> dict[str, Any]:
    """The gateway's GatewayInfo (`faas-cli version` prints its gateway and provider parts):
    here gateway and provider are one program, so both carry this version."""
    return {"provider": provider_info(revision, orchestration),
            "version": revision.as_version_info(), "arch": arch}


def provider_info(revision: Revision, orchestration: str = ORCHESTRATION) -> dict[str, Any]:
    """faas-provider's ProviderInfo: what a stock gateway reads from its provider."""
    return {"provider": PROVIDER_NAME, "orchestration": orchestration,
            "version": revision.as_version_info()}

"""The one-machine OpenFaaS: gateway + faas-provider API + process supervisor (`faasml up`).

Core modules (stack, nodes, placement, balancer, backoff, auth, metrics, logstore,
openfaas) hold no web framework and are unit-tested alone; `replicas` and `provider` run
processes under asyncio; `gateway` is the thin aiohttp layer over them. Nothing is
imported here so that `python -m faasml.runtime.pinned_exec` stays cheap.
"""

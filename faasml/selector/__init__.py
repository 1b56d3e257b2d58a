"""The selector: per-request choice of a model variant under live load.

Two layers, apart on purpose:
  engine/     the selection engine, pure (no I/O, no threads, no clock): the registry
              snapshot, load and latency state updated by events, prediction, verdicts,
              policies, and the fallback and hold plans. The simulator
              (faasml/simulation) drives the same objects on simulated time.
  the shell   everything that waits, on one event loop:
    service       the HTTP routes (`SelectorService.handle(Request) -> Response`, which
                  functions/selector/handler.py calls) and holding a request for room
    forwarding    the engine's fallback plan carried out over HTTP (direct: direct calls)
    registry, refresher, loadsource, gateway_client
                  listing the gateways and sampling their load as supervised tasks
    stalls        probing variants that stalled until they answer
    background    the supervised tasks, visible in /health and /metrics
    client        the one HTTP client for all of it
    params, views, recent, telemetry, access, profiles, config
                  request parsing, JSON views, recent decisions, metrics, API keys,
                  the profiles file, and the settings (config: the one declaration)
What the selector and `faasml up` must agree on (metric and label names, the API-key
secret's format) is faasml/contract.py; the Prometheus text parser, faasml/promtext.py.
"""

"""The selector: per-request choice of a model variant under live load.

Framework-free core. `service.SelectorService.handle(Request) -> Response` is the one
entry point the OpenFaaS handler (functions/selector/handler.py) calls. Modules:
  variant, profiles      what a variant promises: annotations, measured profiles
  gateway_client,        the HTTP client of one gateway (functions, metrics, invoke);
  registry               discovery from one or more gateways' /system/functions
  load, loadsource,      in-flight counts, observed latencies, gateway metrics
  promtext, refresher    (Prometheus API or /metrics), each with a freshness bound
  predictor              queueing-aware latency prediction per candidate
  policies               ranking strategies chosen by name (ours: `tradeoff`)
  candidate, decision    hard limits, health, saturation, the atomic choose-and-dispatch
  forwarding             the call to the chosen variant with fallback down the ranking
  params, views, service the request API; telemetry: the selector's own metrics
  config                 everything read from the environment, in one place
  commands               `faasml profile` and `faasml bench selector` (their work lives in
                         faasml.profiling and faasml.bench: tooling, not serving)
"""

"""The selector: per-request choice of a model variant under live load.

Framework-free core. `service.SelectorService.handle(Request) -> Response` is the one
entry point the OpenFaaS handler (functions/selector/handler.py) and the benchmark call.
Modules, by concern:
  variant     what a variant promises (from its OpenFaaS annotations)
  params      the client's request: task, trade-off, hard limits
  load        in-flight counts, observed latencies, gateway metrics, with freshness bounds
  predictor   queueing-aware latency prediction per candidate
  policies    ranking strategies chosen by name (ours: `tradeoff`)
  decision    hard limits, saturation, the atomic choose-and-dispatch step
  registry    discovery from one or more gateways' /system/functions
  forwarding  the call to the chosen variant with fallback down the ranking
  telemetry   the selector's own Prometheus metrics
  profiles    measured latency profiles the selector reads
"""

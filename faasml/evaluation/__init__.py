"""The evaluation harness (`faasml bench evaluate`): does each client get the most accurate
answer that still arrives within its own deadline, under real and shifting load, for every
selector policy side by side on the same traces, against an offline upper bound?

  scenario    scenarios as YAML (client classes, shares over time, loads, nodes file)
  inputs      request bodies and how to judge an answer (labelled photos, sentences)
  trace       seeded open-loop Poisson arrival traces
  loadgen     replays a trace through the gateway (aiohttp); closed loop for capacity
  platform    `faasml up` as a subprocess on a free port; what runs where
  cpu         per-process CPU from /proc over a run
  metrics     per-run metrics from per-request records
  bound       an upper bound on any policy under CPU capacity and deadlines (LP; live and simulator)
  live_bound  the live platform as a bound: pools, measured work and overhead, per-input values
  stats       paired differences against ours, bootstrap intervals, win/tie/loss
  throughput  full path vs in-process throughput
  report      report.md and plots; runner ties it together; commands parses arguments
"""

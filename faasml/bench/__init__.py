"""Benchmarks: each prints a system measured side by side with its baseline, in one run.

  executor    raw `session.run` against the full handler (`faasml bench executor`)
  gateway     a function direct against through `faasml up` (`faasml bench gateway`)
  selector    decision time; the selector hop's added latency (`faasml bench selector`)
  serving     the function server against the hand-written one it replaced (`faasml bench serving`)
  localstage  a throw-away `faasml up` over a generated stack (the selector bench, tests)
  stats       percentiles
"""

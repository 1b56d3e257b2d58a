"""`faasml bench simulate`: a discrete-event simulator of the platform that drives the
selector's own engine (faasml/selector/engine/) on simulated time (docs/simulation.md).

  events       the event loop (a heap, ties in scheduling order)
  machine      CPUs: pools, single-threaded processes, FIFO queues, processor sharing
  topology     the cluster: nodes, functions and replicas, gateways, control plane
  service      measured service-time distributions and per-photo correctness
  correctness  `faasml bench correctness`: measuring that table
  simulator    one run: gateways, executors, selector replicas (Engine + the shell's
               timing: holds, fallback, load sampling, listing, stall probes), clients
"""

"""One simulated run: clients, gateways, executors and selector replicas on simulated time.

The selector replicas run the selector's own engine (faasml/selector/engine/): an
`Engine` each, built from `SelectorConfig().engine()`, with its own random source and
its own load view. What the live shell does around the engine (faasml/selector/
service.py, forwarding.py, refresher.py, stalls.py) is done here with the same settings
and at the same moments, on simulated time instead of the event loop's:

* a request reaches the gateway (its arrival stamp is where its deadline runs from), then
  one selector replica (the gateway balances them); the replica decides
  (`Engine.decide`), holds a request refused only for want of room (`HoldBook`,
  `hold_until`, `asked_now`, re-deciding every `RECHECK_S` and when a release wakes the
  newest waiters), and forwards it through the fallback plan (`Attempts`: each call with
  its stall bound or the remaining deadline, `record` with a `Reply` or a `NoReply`);
* a variant on a node without a round trip is called at a replica's own address (as the
  selector does with `faasml up`'s direct addresses, round robin by `DirectRoutes`),
  any other through its gateway, which picks a replica (least in flight, or round robin
  as a Kubernetes Service does), answers 429 past `max_inflight`, and adds the node's
  round trip;
* every `metrics_poll_s` each replica samples every gateway's load (in flight per
  function, counting every client's and every replica's calls; ready replicas; mean
  latency since its last sample) into `Engine.update_gateway`; every
  `registry_refresh_s` (0.5 s while a replica is starting, at once after a forwarding
  error) it lists the gateways and builds a new snapshot (`build_snapshot`, profiles laid
  over); a stalled variant is probed every 0.5 s until it answers (`mark_up`).

Executors are single-threaded processes on their node's CPUs (machine.py); a request's
CPU work is drawn from its variant's measured distribution (service.py) and its
correctness looked up on its input. The control plane (gateway, selector, load
generator) costs measured CPU per request where it runs (topology.Control).
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from faasml.errors import FaasmlError
from faasml.evaluation.loadgen import CONN_ERROR, TIMEOUT, Record, client_timeout_s
from faasml.evaluation.scenario import ClientClass
from faasml.runtime.balancer import LeastInFlight
from faasml.selector.config import SelectorConfig
from faasml.selector.direct import DirectRoutes
from faasml.selector.engine.attempts import Attempts, NoReply, Outcome, Reply, record_tight_outcome
from faasml.selector.engine.core import NO_ROOM, Decision, Engine
from faasml.selector.engine.holds import RECHECK_S, HoldBook, asked_now, hold_until
from faasml.selector.engine.registry import Snapshot, build_snapshot
from faasml.selector.engine.request import SelectionRequest
from faasml.selector.engine.signals import GatewayLoad
from faasml.selector.refresher import STARTING_REFRESH_S
from faasml.selector.service import MAX_INBOUND_DELAY_S, REFRESH_WAIT_S, STALE_REGISTRY_RETRY_S
from faasml.simulation.events import EventLoop
from faasml.simulation.machine import Job, Pool, Proc, build_domains
from faasml.simulation.service import ServiceTimes, retry_uniform
from faasml.simulation.topology import MAIN_GATEWAY, Deployment, Topology, gateway_url, listing, replica_url

LISTING_S = 0.002          # one listing of the gateways (its answer's time)
PROBE_EVERY_S = 0.5        # faasml/selector/stalls.py's defaults
PROBE_TIMEOUT_S = 1.0
PROBE_S = 0.001            # a probe's own time, besides the round trip
SELECTOR_MAX_INFLIGHT = 256   # stack.yml: the selector's max_inflight at the gateway


@dataclass(frozen=True)
class Fault:
    kind: str                   # replica-lost | node-stall | slow
    at_s: float                 # seconds from the run's start
    for_s: float = math.inf     # how long (node-stall, slow); replica-lost: until restarted
    function: str | None = None
    gateway: str | None = None  # the site (None: every site holding the function)
    node: str | None = None
    factor: float = 1.0         # slow: service times x factor
    restart_s: float | None = None   # replica-lost: a replacement is ready this long after


@dataclass
class RunResult:
    records: list[Record]
    duration_s: float
    cpu_samples: list[tuple[float, dict[str, float]]]
    dispatch: dict[str, list[int]]            # variant key -> calls per bin
    queue: dict[str, list[float]]             # variant key -> in flight per replica at its gateway, per sample
    bin_s: float
    sample_s: float
    events: int
    decisions: int
    selector_dispatch: list[dict[str, int]]   # per selector replica: variant key -> first calls
    node_of: dict[str, str]                   # variant key -> node (pool) name
    node_cpus: dict[str, float]
    work_ms: dict[str, float]                 # variant key -> mean CPU work per request
    ratios: list[float] = field(default_factory=list)   # actual / predicted latency per answer
    notes: list[str] = field(default_factory=list)


class Req:
    __slots__ = ("seq", "cls", "t0", "input", "u", "selection", "arrived", "gw_stamp", "selector", "decision",
                 "plan", "call", "call_at", "call_fn", "token", "attempt", "held_from", "until", "evicted",
                 "waiting", "wait_gen", "listing_seen", "status", "outcome", "answer", "compute_ms", "predicted_ms", "client",
                 "done")

    def __init__(self, seq: int, cls: ClientClass, t0: float, input_index: int, u: float,
                 selection: SelectionRequest, client: int = -1):
        self.seq, self.cls, self.t0, self.input, self.u = seq, cls, t0, input_index, u
        self.selection = selection
        self.arrived = self.gw_stamp = t0
        self.selector: SimSelector | None = None
        self.decision: Decision | None = None
        self.plan: Attempts | None = None
        self.call = None
        self.call_at = 0.0
        self.call_fn: SimFunction | None = None
        self.token = 0
        self.attempt = 0
        self.held_from = 0.0
        self.until = 0.0
        self.evicted = False
        self.waiting = False
        self.wait_gen = 0
        self.listing_seen = -1
        self.status = 0
        self.outcome = ""
        self.answer = None
        self.compute_ms: float | None = None
        self.predicted_ms: float | None = None
        self.client = client
        self.done = False


class SimFunction:
    """One function on one gateway: its replicas, the gateway's counters for it."""

    __slots__ = ("d", "gateway", "url", "replicas", "by_url", "pick", "inflight", "started", "finished",
                 "seconds", "service", "correct", "slow", "work_s", "work_n", "key", "name_ns")

    def __init__(self, d: Deployment, gateway: "SimGateway", replicas: list[Proc], service: ServiceTimes,
                 correct: list[bool] | None, balancer: str):
        self.d = d
        self.gateway = gateway
        self.url = gateway.url
        self.replicas = replicas
        self.by_url = {replica_url(gateway.name, d.name, i): r for i, r in enumerate(replicas)}
        self.pick = _balancer(balancer)
        self.inflight = 0
        self.started = 0
        self.finished = 0
        self.seconds = 0.0
        self.service = service
        self.correct = correct
        self.slow = 1.0
        self.work_s = 0.0
        self.work_n = 0
        self.key = d.name        # its engine key (name, or name@gateway on clashes): set at listing
        self.name_ns = f"{d.name}.openfaas-fn"


def _balancer(kind: str) -> Callable[[Sequence[Any]], Any]:
    if kind == "least-inflight":
        return LeastInFlight().choose      # faasml up's own balancer
    turn = [0]

    def round_robin(replicas: Sequence[Any]) -> Any:
        count = len(replicas)
        for offset in range(count):
            replica = replicas[(turn[0] + offset) % count]
            if replica.routable:
                turn[0] = (turn[0] + offset + 1) % count
                return replica
        return None
    return round_robin


class SimGateway:
    __slots__ = ("name", "url", "functions", "proc")

    def __init__(self, name: str, proc: Proc | None):
        self.name = name
        self.url = gateway_url(name)
        self.functions: dict[str, SimFunction] = {}
        self.proc = proc


class Simulation:
    """One run of one policy over one trace (or a closed loop) on one topology."""

    def __init__(self, topology: Topology, task: str, classes: Sequence[ClientClass],
                 service: Mapping[str, ServiceTimes], selector_profiles: Mapping[str, Mapping[str, Any]],
                 correct: Mapping[str, list[bool]] | None, seed: int | str, policy: str | None,
                 faults: Sequence[Fault] = (), config: SelectorConfig | None = None, min_timeout_s: float = 5.0,
                 sample_s: float = 0.5, bin_s: float = 0.25,
                 background: Sequence[tuple[float, float]] = (), label: str | None = None):
        self.topology = topology
        self.task = task
        self.classes = list(classes)
        self.policy = policy
        self.label = label or policy    # what the records name: the policy, with its settings where given
        self.config = config or SelectorConfig()
        self.settings = self.config.engine()
        self.selector_profiles = selector_profiles
        self.min_timeout_s = min_timeout_s
        self.sample_s, self.bin_s = sample_s, bin_s
        self.loop = EventLoop()
        self.seed = seed
        self.records: list[Record] = []
        self.ratios: list[float] = []     # actual / predicted latency of answers, as the selector sees both
        self.notes: list[str] = []
        self.faults = list(faults)
        # Other work on the machine (a shared one, replayed from a live run's CPU samples):
        # (seconds into the run, cores it used from then on), taken from the machine pool.
        self.background = list(background)
        self.decisions = 0
        self._build(service, correct)
        self.selections = {c.name: SelectionRequest(task, c.tradeoff, c.max_latency_ms, c.min_accuracy,
                                                    policy=policy) for c in self.classes}

    # -- building ----------------------------------------------------------------------
    def _build(self, service: Mapping[str, ServiceTimes], correct: Mapping[str, list[bool]] | None) -> None:
        topo = self.topology
        control = topo.control
        pools: dict[str, Pool] = {}
        for name, cpus in topo.machines:
            pools[name] = Pool(name, cpus)
        for node in topo.nodes:
            pools[node.name] = Pool(node.name, node.cpus, pools.get(node.inside) if node.inside else None,
                                    node.slowdown)
        self.pools = pools
        self.node_specs = {n.name: n for n in topo.nodes}
        control_pool = pools.get(control.pool) if control.pool and control.pool != "own" else None
        self.client_proc = Proc("harness", control_pool) if control_pool and control.client_ms > 0 else None
        self.gateways: dict[str, SimGateway] = {}
        for name in topo.gateways:
            proc = Proc(f"gateway-{name}", control_pool) if control_pool and control.gateway_ms > 0 else None
            self.gateways[name] = SimGateway(name, proc)
        self.by_url = {g.url: g for g in self.gateways.values()}
        self.functions: list[SimFunction] = []
        self.replica_node: dict[Proc, str] = {}
        missing = set()
        for d in topo.deployments:
            if d.task != self.task or not d.nodes:   # unschedulable: listed, never called
                continue
            replicas = []
            for i, node in enumerate(d.nodes):
                proc = Proc(f"{d.gateway}/{d.name}/{i}", pools[node], d.weight)
                self.replica_node[proc] = node
                replicas.append(proc)
            times = service.get(d.name)
            if times is None:
                missing.add(d.name)
                continue
            fn = SimFunction(d, self.gateways[d.gateway], replicas, times, None if correct is None else
                             correct.get(d.model), topo.balancer)
            if correct is not None and fn.correct is None:
                raise KeyError(f"no correctness row for model {d.model!r} (function {d.name}): "
                               f"re-run `faasml bench correctness`")
            for proc in replicas:
                proc.tag = fn
            self.gateways[d.gateway].functions[d.name] = fn
            self.functions.append(fn)
        if missing:
            self.notes.append(f"no service-time profile for {sorted(missing)}: left out of the run")
        if not any(fn.replicas for fn in self.functions):
            raise ValueError(f"no function of task {self.task!r} can run on this topology")
        self.selectors: list[SimSelector] = []
        rng = random.Random(f"{self.seed}:phases")
        for i in range(topo.selectors):
            proc = None
            if control.selector_ms > 0 and control.pool is not None:
                if control.pool == "own":
                    own = Pool(f"selector-{i}", control.selector_cpus)
                    pools[own.name] = own
                    proc = Proc(f"selector-{i}", own)
                elif control_pool is not None:
                    proc = Proc(f"selector-{i}", control_pool)
            self.selectors.append(SimSelector(self, i, proc, random.Random(f"{self.seed}:engine:{i}"),
                                              rng.random() * self.config.metrics_poll_s,
                                              rng.random() * self.config.registry_refresh_s))
        self.pick_selector = _balancer(topo.balancer)
        self.domains = build_domains(self.loop, pools.values())
        self.control_ms = control
        # groups for the CPU samples: nodes hold executors; the rest by role
        self.groups: dict[str, list[Proc]] = {}
        for proc, node in self.replica_node.items():
            self.groups.setdefault(node, []).append(proc)
        for g in self.gateways.values():
            if g.proc is not None:
                self.groups.setdefault("gateway", []).append(g.proc)
        for s in self.selectors:
            if s.proc is not None:
                self.groups.setdefault("selector", []).append(s.proc)
        if self.client_proc is not None:
            self.groups["harness"] = [self.client_proc]

    # -- the listing and the gateways' metrics ------------------------------------------
    def ready(self) -> dict[tuple[str, str], int]:
        return {(fn.gateway.name, fn.d.name): sum(1 for r in fn.replicas if r.alive) for fn in self.functions}

    def listings(self) -> list[tuple[str, str, list[dict]]]:
        ready = self.ready()
        return [(self.gateways[name].url, name, listing(self.topology, name, ready) if self._has_task(name) else [])
                for name in self.topology.gateways]

    def _has_task(self, gateway: str) -> bool:
        return bool(self.gateways[gateway].functions)

    def gateway_loads(self, gateway: SimGateway, previous: dict, now: float) -> dict[str, GatewayLoad]:
        """What one gateway's /metrics say per function (GatewayMetricsLoadSource.read):
        in flight (every caller's), ready replicas, mean latency since this reader's last look."""
        loads = {}
        for name, fn in gateway.functions.items():
            before = previous.get(fn)
            previous[fn] = (fn.seconds, fn.finished)
            mean = None
            if before is not None and fn.finished > before[1]:
                mean = 1000.0 * (fn.seconds - before[0]) / (fn.finished - before[1])
            loads[fn.name_ns] = GatewayLoad(float(fn.inflight), sum(1 for r in fn.replicas if r.alive), mean, now)
        return loads

    # -- running ------------------------------------------------------------------------
    def _start(self, horizon: float) -> None:
        self._horizon = horizon
        for s in self.selectors:
            s.start()
        for fault in self.faults:
            self.loop.at(fault.at_s, self._fault, fault)
        if self.background and self.topology.machines:
            machine = self.pools[self.topology.machines[0][0]]
            self._machine_cpus = machine.cpus
            for t, cores in self.background:
                self.loop.at(max(0.0, t), self._others, (machine, cores))
        self._cpu_before: dict[str, float] = {}
        self._sample_t = 0.0
        self.cpu_samples: list[tuple[float, dict[str, float]]] = []
        self.queue_samples: dict[str, list[float]] = {}
        self.dispatch: dict[str, list[int]] = {}
        self.loop.at(self.sample_s, self._sample, None)

    def run_trace(self, times: Sequence[float], classes: Sequence[str], inputs: Sequence[int],
                  uniforms: Sequence[float], duration_s: float) -> RunResult:
        """Replay an open-loop trace (every policy gets the same one): each arrival at its
        time, whatever the platform does."""
        self._start(duration_s)
        by_name = {c.name: c for c in self.classes}
        self._trace = (times, classes, inputs, uniforms, by_name)
        if len(times):
            self.loop.at(times[0], self._next_arrival, 0)
        self.loop.run()
        return self._result(duration_s)

    def _next_arrival(self, i: int) -> None:
        times, classes, inputs, uniforms, by_name = self._trace
        cls = by_name[classes[i]]
        req = Req(i, cls, times[i], inputs[i], uniforms[i], self.selections[cls.name])
        if i + 1 < len(times):
            self.loop.at(times[i + 1], self._next_arrival, i + 1)
        self._arrive(req)

    def run_closed_loop(self, classes: Sequence[str], inputs: Sequence[int], uniforms: Sequence[float],
                        concurrency: int, warmup_s: float, measure_s: float) -> dict:
        """`concurrency` clients, each sending its next request when the last is answered
        (the live capacity measurement); answers/s in the measured window."""
        self._start(warmup_s + measure_s)
        by_name = {c.name: c for c in self.classes}
        self._closed = {"classes": classes, "inputs": inputs, "uniforms": uniforms, "by_name": by_name,
                        "next": 0, "window": (warmup_s, warmup_s + measure_s), "answered": 0, "completed": 0,
                        "outcomes": {}}
        for client in range(concurrency):
            self._closed_send(client)
        self.loop.run(until=warmup_s + measure_s + 0.5)
        state = self._closed
        return {"concurrency": concurrency, "measure_s": measure_s, "answered": state["answered"],
                "completed": state["completed"], "outcomes": dict(sorted(state["outcomes"].items())),
                "throughput_per_s": state["answered"] / measure_s}

    def _closed_send(self, client: int) -> None:
        state = self._closed
        if self.loop.now >= state["window"][1]:
            return
        i = state["next"]
        state["next"] += 1
        n = len(state["classes"])
        cls = state["by_name"][state["classes"][i % n]]
        req = Req(i, cls, self.loop.now, state["inputs"][i % n], state["uniforms"][i % n],
                  self.selections[cls.name], client)
        self._arrive(req)

    # -- the request's way ---------------------------------------------------------------
    def spend(self, proc: Proc | None, ms: float, then: Callable[[Req], None], req: Req) -> None:
        """`then(req)` after `ms` of CPU on `proc` (at once when nothing is modelled)."""
        if proc is None or ms <= 0.0:
            then(req)
            return
        proc.submit(Job(ms / 1000.0, self._spent, (then, req)))

    @staticmethod
    def _spent(job: Job) -> None:
        then, req = job.arg
        then(req)

    def _arrive(self, req: Req) -> None:
        self.spend(self.client_proc, self.control_ms.client_ms / 2, self._at_gateway, req)

    def _at_gateway(self, req: Req) -> None:
        req.gw_stamp = self.loop.now
        main = self.gateways[MAIN_GATEWAY]
        self.spend(main.proc, self.control_ms.gateway_ms, self._to_selector, req)

    def _to_selector(self, req: Req) -> None:
        selector = self.pick_selector(self.selectors)
        if selector.in_flight >= SELECTOR_MAX_INFLIGHT:
            self._to_client(req, 429, "429")
            return
        selector.in_flight += 1
        req.selector = selector
        self.spend(selector.proc, self.control_ms.selector_ms / 2, selector.receive, req)

    def respond(self, req: Req, status: int) -> None:
        """The selector answers (`status`): back through the gateway to the client."""
        selector = req.selector
        assert selector is not None
        selector.in_flight -= 1
        req.status = status
        self.spend(selector.proc, self.control_ms.selector_ms / 2, self._respond_client, req)

    def _respond_client(self, req: Req) -> None:
        self._to_client(req, req.status, str(req.status))

    def _to_client(self, req: Req, status: int, outcome: str) -> None:
        req.status, req.outcome = status, outcome
        self.spend(self.client_proc, self.control_ms.client_ms / 2, self._finish, req)

    def _finish(self, req: Req) -> None:
        if req.done:
            return
        req.done = True
        now = self.loop.now
        cls = req.cls
        latency_ms = (now - req.t0) * 1000.0
        timeout_ms = client_timeout_s(cls.deadline_ms, self.min_timeout_s) * 1000.0
        status, outcome = req.status, req.outcome
        if latency_ms > timeout_ms:   # the client gave up first
            status, outcome, latency_ms = 0, TIMEOUT, timeout_ms
        answer = req.answer if status == 200 else None
        correct = False
        if answer is not None:
            fn = self.function_of(answer.variant)
            correct = True if fn.correct is None else fn.correct[req.input]
        if req.client >= 0:
            self._closed_done(req, status, outcome, now)
            return
        self.records.append(Record(
            seq=req.seq, cls=cls.name, policy=self.label or "default", t_s=req.t0, lateness_ms=0.0,
            outcome=outcome, status=status, latency_ms=latency_ms, deadline_ms=cls.deadline_ms,
            tradeoff=cls.tradeoff, variant=answer.key if answer is not None else None,
            accuracy=answer.variant.accuracy if answer is not None else None,
            compute_ms=req.compute_ms if answer is not None else None, correct=correct,
            in_time=status == 200 and latency_ms <= cls.deadline_ms,
            answered_policy=(req.decision.policy if req.decision is not None else None) if status == 200 else None,
            input_index=req.input, predicted_ms=req.predicted_ms if answer is not None else None))

    def _closed_done(self, req: Req, status: int, outcome: str, now: float) -> None:
        state = self._closed
        low, high = state["window"]
        if low <= now <= high:
            state["completed"] += 1
            state["outcomes"][outcome] = state["outcomes"].get(outcome, 0) + 1
            if status == 200:
                state["answered"] += 1
        self._closed_send(req.client)

    def function_of(self, variant) -> SimFunction:
        return self.by_url[variant.gateway].functions[variant.name]

    # -- calling an executor --------------------------------------------------------------
    def call(self, req: Req, selector: "SimSelector") -> None:
        """Send the plan's current call: directly to a replica, or through its gateway."""
        call = req.call
        variant = call.candidate.variant
        fn = self.function_of(variant)
        req.call_fn = fn
        bins = self.dispatch.setdefault(call.candidate.key, [])
        b = int(self.loop.now / self.bin_s)
        if len(bins) <= b:
            bins.extend([0] * (b + 1 - len(bins)))
        bins[b] += 1
        if req.attempt == 0:
            counts = selector.first_calls
            counts[call.candidate.key] = counts.get(call.candidate.key, 0) + 1
        url = selector.routes.url_for(variant)
        replica = fn.by_url.get(url) if url else None
        if replica is not None:
            self._send(req, fn, replica, 0.0, direct=True)
            return
        self.spend(fn.gateway.proc, self.control_ms.gateway_ms, self._through_gateway, req)

    def _through_gateway(self, req: Req) -> None:
        fn = req.call_fn
        replica = fn.pick(fn.replicas) if fn.replicas else None
        token = req.token
        if replica is None:
            self.loop.at(self.loop.now, req.selector.reply, (req, token, Reply(503, self._elapsed(req))))
            return
        if fn.d.max_inflight and replica.in_flight >= fn.d.max_inflight:
            self.loop.at(self.loop.now, req.selector.reply, (req, token, Reply(429, self._elapsed(req))))
            return
        rtt = self.node_specs[self.replica_node[replica]].rtt_ms / 1000.0
        self._send(req, fn, replica, rtt, direct=False)

    def _elapsed(self, req: Req) -> float:
        return (self.loop.now - req.call_at) * 1000.0

    def _send(self, req: Req, fn: SimFunction, replica: Proc, rtt_s: float, direct: bool) -> None:
        replica.in_flight += 1
        fn.inflight += 1
        fn.started += 1
        u = retry_uniform(req.u, req.attempt)
        compute_s = fn.service.quantile(u) / 1000.0 * replica.pool.slowdown * fn.slow
        http_s = self.control_ms.executor_http_ms / 1000.0
        fn.work_s += compute_s + http_s
        fn.work_n += 1
        job = Job(compute_s + http_s, self._executed, (req, req.token, fn, replica, self.loop.now, compute_s, direct))
        if rtt_s > 0:
            self.loop.at(self.loop.now + rtt_s, replica.submit, job)
        else:
            replica.submit(job)

    def _executed(self, job: Job) -> None:
        req, token, fn, replica, sent, compute_s, direct = job.arg
        now = self.loop.now
        replica.in_flight -= 1
        fn.inflight -= 1
        fn.finished += 1
        fn.seconds += now - sent
        elapsed_ms = (now - req.call_at) * 1000.0
        if job.failed:
            result = NoReply(Outcome.CONNECTION_ERROR, elapsed_ms, "ConnectionLost") if direct \
                else Reply(502, elapsed_ms)
        else:
            wall = now - job.started_at
            share = compute_s / job.work_s if job.work_s > 0 else 1.0
            result = Reply(200, elapsed_ms, wall * share * 1000.0)
        req.selector.reply((req, token, result))

    def probe(self, variant) -> tuple[bool, float]:
        """A stall probe through the variant's gateway: (answered, seconds it took)."""
        fn = self.function_of(variant)
        replica = fn.pick(fn.replicas) if fn.replicas else None
        if replica is None or not replica.alive or any(p.stalled for p in replica.pool.chain):
            return False, PROBE_TIMEOUT_S
        rtt = self.node_specs[self.replica_node[replica]].rtt_ms / 1000.0
        return True, rtt + PROBE_S

    # -- faults ---------------------------------------------------------------------------
    def _fault(self, fault: Fault) -> None:
        if fault.kind == "node-stall":
            pool = self.pools[fault.node]
            pool.stalled = True
            pool.domain.changed()
            if math.isfinite(fault.for_s):
                self.loop.at(self.loop.now + fault.for_s, self._unstall, pool)
        elif fault.kind == "slow":
            for fn in self._targets(fault):
                fn.slow = fault.factor
                if math.isfinite(fault.for_s):
                    self.loop.at(self.loop.now + fault.for_s, self._unslow, fn)
        elif fault.kind == "replica-lost":
            for fn in self._targets(fault):
                alive = [r for r in fn.replicas if r.alive]
                if not alive:
                    continue
                victim = alive[0]
                victim.kill()
                if fault.restart_s is not None:
                    self.loop.at(self.loop.now + fault.restart_s, self._restart, victim)

    def _targets(self, fault: Fault) -> list[SimFunction]:
        return [fn for fn in self.functions if fn.d.name == fault.function
                and (fault.gateway is None or fn.gateway.name == fault.gateway)]

    def _others(self, arg: tuple[Pool, float]) -> None:
        """Other processes take `cores` of the machine from now on (at least a tenth of a
        core is left to the platform: the kernel never starves a runnable process)."""
        machine, cores = arg
        machine.cpus = max(0.1, self._machine_cpus - cores)
        machine.domain.changed()

    def _unstall(self, pool: Pool) -> None:
        pool.stalled = False
        pool.domain.changed()

    @staticmethod
    def _unslow(fn: SimFunction) -> None:
        fn.slow = 1.0

    @staticmethod
    def _restart(proc: Proc) -> None:
        proc.revive()

    # -- observing ------------------------------------------------------------------------
    def _sample(self, _) -> None:
        now = self.loop.now
        for domain in self.domains:
            domain.advance(now)
        span = now - self._sample_t
        sample: dict[str, float] = {}
        for group, procs in self.groups.items():
            used = sum(p.cpu_s for p in procs)
            sample[group] = round((used - self._cpu_before.get(group, 0.0)) / span, 4) if span > 0 else 0.0
            self._cpu_before[group] = used
        self.cpu_samples.append((round(now, 3), sample))
        for fn in self.functions:   # calls in flight per replica (a queue of one replica's worth)
            self.queue_samples.setdefault(fn.key, []).append(fn.inflight / len(fn.replicas))
        self._sample_t = now
        if self.running():
            self.loop.at(now + self.sample_s, self._sample, None)

    def running(self) -> bool:
        """Whether the background rounds go on: the trace is not over, or work is in flight."""
        return self.loop.now < self._horizon or self._busy()

    def _busy(self) -> bool:
        return any(fn.inflight for fn in self.functions) or any(s.in_flight for s in self.selectors)

    def _result(self, duration_s: float) -> RunResult:
        self.records.sort(key=lambda r: r.seq)
        node_of, node_cpus = {}, {}
        work = {}
        for fn in self.functions:
            nodes = sorted(set(fn.d.nodes))
            node = "+".join(nodes)
            node_of[fn.key] = node
            node_cpus[node] = sum(self.node_specs[n].cpus for n in nodes)
            work[fn.key] = 1000.0 * fn.work_s / fn.work_n if fn.work_n else fn.service.mean()
        return RunResult(self.records, duration_s, self.cpu_samples, self.dispatch, self.queue_samples, self.bin_s,
                         self.sample_s, self.loop.processed, self.decisions,
                         [s.first_calls for s in self.selectors], node_of, node_cpus, work, self.ratios,
                         self.notes)


class SimSelector:
    """One selector replica: an `Engine` driven as faasml/selector/service.py drives it."""

    __slots__ = ("sim", "index", "proc", "engine", "holds", "stalled", "probing", "routes", "generation",
                 "listed_at", "listing_due", "listing_version", "listing_waiters", "previous", "in_flight",
                 "poll_phase", "list_phase", "first_calls", "deadline_s", "forwarding", "hold_s", "bounded")

    def __init__(self, sim: Simulation, index: int, proc: Proc | None, rng: random.Random, poll_phase: float,
                 list_phase: float):
        self.sim = sim
        self.index = index
        self.proc = proc
        self.engine = Engine(sim.settings, rng)
        self.holds: HoldBook[Req] = HoldBook()
        self.stalled: dict[str, Any] = {}
        self.probing = False
        self.routes = DirectRoutes(sim.config.direct_functions, sim.config.direct_url)
        self.generation = 0
        self.listed_at = -math.inf
        self.listing_due = False
        self.listing_version = 0
        self.listing_waiters: list[Req] = []
        self.previous: dict = {}
        self.in_flight = 0
        self.poll_phase = poll_phase
        self.list_phase = list_phase
        self.first_calls: dict[str, int] = {}
        self.forwarding = sim.settings.forwarding
        self.hold_s = sim.config.hold_s
        # stall-bounded calls in flight, per variant key (dicts as ordered sets: one seed, one history)
        self.bounded: dict[str, dict[Req, None]] = {}

    @property
    def routable(self) -> bool:
        return True

    # -- background rounds ----------------------------------------------------------------
    def start(self) -> None:
        """As the shell's start: list once and sample once, then the rounds at their intervals
        (each replica started at its own moment: phases drawn from the seed)."""
        self._list()
        self._poll(None)
        loop = self.sim.loop
        loop.at(self.poll_phase + self.sim.config.metrics_poll_s, self._poll_round, None)

    def _poll_round(self, _) -> None:
        self._poll(None)
        if self._running():
            self.sim.loop.at(self.sim.loop.now + self.sim.config.metrics_poll_s, self._poll_round, None)

    def _running(self) -> bool:
        return self.sim.running()

    def _poll(self, _) -> None:
        now = self.sim.loop.now
        snapshot = self.engine.snapshot
        for gateway in self.sim.gateways.values():
            if not gateway.functions:
                continue
            loads = self.sim.gateway_loads(gateway, self.previous, now)
            self.engine.update_gateway((v.id, loads[v.function_name]) for v in snapshot.variants
                                       if v.gateway == gateway.url and v.function_name in loads)

    def _list(self) -> None:
        now = self.sim.loop.now
        self.generation += 1
        snapshot = build_snapshot(self.sim.listings(), self.sim.selector_profiles, now, self.generation)
        self.engine.use_snapshot(snapshot)
        for v in snapshot.variants:
            gateway = self.sim.by_url.get(v.gateway)
            fn = gateway.functions.get(v.name) if gateway is not None else None
            if fn is not None:
                fn.key = v.id
        self.listed_at = now
        self.listing_due = False
        self.listing_version += 1
        interval = self._listing_interval(snapshot)
        if self._running():
            first = self.list_phase if self.generation == 1 else 0.0
            self.sim.loop.at(now + first + interval, self._listing_timer, self.listing_version)
        waiters, self.listing_waiters = self.listing_waiters, []
        for req in waiters:
            self._listing_answered(req)

    def _listing_interval(self, snapshot: Snapshot) -> float:
        refresh = self.sim.config.registry_refresh_s
        starting = any(v.available_replicas < max(1, v.replicas) and v.schedulable for v in snapshot.variants)
        return min(refresh, STARTING_REFRESH_S) if starting else refresh

    def _listing_timer(self, version: int) -> None:
        if version == self.listing_version:
            self._list()

    def want_listing(self) -> None:
        """A listing now (single flight: one under way answers every asker)."""
        if not self.listing_due:
            self.listing_due = True
            self.sim.loop.at(self.sim.loop.now + LISTING_S, self._wanted_listing, None)

    def _wanted_listing(self, _) -> None:
        if self.listing_due:
            self._list()

    # -- a request ---------------------------------------------------------------------------
    def receive(self, req: Req) -> None:
        now = self.sim.loop.now
        delay = now - req.gw_stamp          # inbound_delay_s: the gateway's X-Start-Time
        req.arrived = now - delay if 0.0 < delay < MAX_INBOUND_DELAY_S else now
        decision = self._decide(req.selection, now)
        if decision.error is not None and decision.error.status == 503 and now - self.listed_at > STALE_REGISTRY_RETRY_S:
            # nothing healthy in an old listing: look again before answering 503
            req.listing_seen = self.generation
            self.listing_waiters.append(req)
            self.want_listing()
            self.sim.loop.at(now + REFRESH_WAIT_S, self._listing_gave_up, req)
            return
        self._decided_first(req, decision)

    def _listing_answered(self, req: Req) -> None:
        if req.listing_seen < 0:
            return
        req.listing_seen = -1
        self._decided_first(req, self._decide(req.selection, self.sim.loop.now))

    def _listing_gave_up(self, req: Req) -> None:
        if req.listing_seen >= 0:
            if req in self.listing_waiters:
                self.listing_waiters.remove(req)
            self._listing_answered(req)

    def _decide(self, selection: SelectionRequest, now: float) -> Decision:
        self.sim.decisions += 1
        return self.engine.decide(selection, now)

    @staticmethod
    def _held(decision: Decision) -> bool:
        return decision.error is not None and decision.error.code == NO_ROOM

    def _decided_first(self, req: Req, decision: Decision) -> None:
        if self._held(decision) and self.hold_s > 0:
            self._hold(req)
            return
        self._decided(req, decision)

    def _decided(self, req: Req, decision: Decision) -> None:
        req.decision = decision
        if decision.error is not None:
            self.sim.respond(req, decision.error.status)
            return
        selection = req.selection
        deadline_s = selection.max_latency_ms / 1000.0 if selection.max_latency_ms else self.forwarding.timeout_s
        req.plan = Attempts(self.engine, decision, req.arrived + deadline_s, self.forwarding)
        self._next_call(req)

    # holding: service.py's _hold, on simulated time
    def _hold(self, req: Req) -> None:
        now = self.sim.loop.now
        req.held_from = now
        req.until = hold_until(req.arrived, self.hold_s, req.selection.max_latency_ms)
        req.evicted = False
        evicted = self.holds.join(req)
        if evicted is not None:
            evicted.evicted = True
            self._wake(evicted)
        self._hold_step(req)

    def _hold_step(self, req: Req) -> None:
        now = self.sim.loop.now
        remaining = req.until - now
        if remaining <= 0 or req.evicted:
            self._hold_done(req, self._decide(asked_now(req.selection, req.arrived, now), now))
            return
        req.wait_gen += 1
        req.waiting = True
        self.sim.loop.at(now + min(remaining, RECHECK_S), self._hold_timer, (req, req.wait_gen))

    def _wake(self, req: Req) -> None:
        """A release (or an eviction) sets the waiter's event: it runs at the loop's next turn."""
        if req.waiting:
            req.wait_gen += 1
            self.sim.loop.at(self.sim.loop.now, self._hold_timer, (req, req.wait_gen))

    def _hold_timer(self, arg: tuple[Req, int]) -> None:
        req, gen = arg
        if not req.waiting or gen != req.wait_gen:
            return
        req.waiting = False
        now = self.sim.loop.now
        decision = self._decide(asked_now(req.selection, req.arrived, now), now)
        if not self._held(decision):
            self._hold_done(req, decision)
        else:
            self._hold_step(req)

    def _hold_done(self, req: Req, decision: Decision) -> None:
        self.holds.leave(req)
        req.waiting = False
        decision.held_s = self.sim.loop.now - req.held_from
        self._decided(req, decision)

    def _released(self) -> None:
        for waiter in self.holds.released():
            self._wake(waiter)

    # forwarding: forwarding.py's loop, on simulated time
    def _next_call(self, req: Req) -> None:
        now = self.sim.loop.now
        plan = req.plan
        call = plan.next_call(now)
        if call is None:
            self._forwarded(req, None)
            return
        req.call = call
        req.call_at = now
        req.token += 1
        if call.stall:
            self.bounded.setdefault(call.candidate.key, {})[req] = None
        self.sim.loop.at(now + call.timeout_s, self._timed_out, (req, req.token))
        self.sim.call(req, self)
        req.attempt += 1

    def _timed_out(self, arg: tuple[Req, int]) -> None:
        req, token = arg
        if token != req.token or req.call is None:
            return
        req.token += 1   # a later reply of this call is ignored (the executor still runs it)
        self._record(req, NoReply(Outcome.TIMEOUT, (self.sim.loop.now - req.call_at) * 1000.0), None)

    def reply(self, arg: tuple[Req, int, Any]) -> None:
        req, token, result = arg
        if token != req.token or req.call is None:   # as _timed_out: no call of this request is out
            return
        req.token += 1
        self._record(req, result, result.status if isinstance(result, Reply) else None)

    def _record(self, req: Req, result, status: int | None) -> None:
        now = self.sim.loop.now
        call = req.call
        req.call = None
        if call.stall:
            bounded = self.bounded.get(call.candidate.key)
            if bounded is not None:
                bounded.pop(req, None)
        effects = req.plan.record(call, now, result)
        self._released()
        key = call.candidate.key
        if status is not None and status < 500 and self.stalled.pop(key, None) is not None:
            self.engine.mark_up(key)
        if effects.relist:
            self.want_listing()
        if effects.stalled is not None:
            self._watch(effects.stalled.key, effects.stalled.variant)
            self._give_up_on(effects.stalled.key)
        if effects.done:
            if isinstance(result, Reply):
                req.compute_ms = result.compute_ms
            self._forwarded(req, result if isinstance(result, Reply) else None)
        else:
            self._next_call(req)

    def _give_up_on(self, key: str) -> None:
        """forwarding.py: a stall is shared: every other stall-bounded call in flight on
        `key` is given up now (its bound moved to now), not each at its own bound."""
        for other in list(self.bounded.get(key, ())):
            self.sim.loop.at(self.sim.loop.now, self._timed_out, (other, other.token))

    def _forwarded(self, req: Req, reply: Reply | None) -> None:
        now = self.sim.loop.now
        plan, decision, selection = req.plan, req.decision, req.selection
        answered = plan.answer
        if selection.max_latency_ms is not None and not selection.variant:
            ok = reply is not None and 200 <= reply.status < 300
            record_tight_outcome(self.engine, decision, answered, ok, (now - req.arrived) * 1000.0,
                                 selection.max_latency_ms, now)
        if reply is None or answered is None:
            error: FaasmlError = plan.error(now)
            self.sim.respond(req, error.status)
            return
        if 200 <= reply.status < 300:
            # the latency predicted to the client (X-Faasml-Predicted-Latency-Ms: the wait
            # before the decision counts) against the selector's own measure of it
            predicted = max(0.0, decision.decided_at - req.arrived) * 1000.0 + answered.prediction.total_ms
            req.predicted_ms = predicted
            if predicted > 0:
                self.sim.ratios.append((now - req.arrived) * 1000.0 / predicted)
        req.answer = answered
        self.sim.respond(req, reply.status)

    # stall watch: stalls.py's round
    def _watch(self, key: str, variant) -> None:
        self.stalled[key] = variant
        if not self.probing:
            self.probing = True
            self.sim.loop.at(self.sim.loop.now, self._probe_round, None)

    def _probe_round(self, _) -> None:
        if not self.stalled:
            self.probing = False
            return
        t = self.sim.loop.now
        for key, variant in list(self.stalled.items()):
            answered, took = self.sim.probe(variant)
            t += took
            if answered:
                self.sim.loop.at(t, self._probe_answered, key)
        self.sim.loop.at(t + PROBE_EVERY_S, self._probe_round, None)

    def _probe_answered(self, key: str) -> None:
        if self.stalled.pop(key, None) is not None:
            self.engine.mark_up(key)

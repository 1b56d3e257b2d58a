"""The cluster model's CPUs: FIFO per process, processor sharing by weight, pools inside
pools, stalls and killed processes, all on scripted time."""
import pytest

from faasml.simulation.events import EventLoop
from faasml.simulation.machine import Job, Pool, Proc, build_domains, water_fill


def setup(*pools):
    loop = EventLoop()
    build_domains(loop, pools)
    return loop


def run_jobs(loop, proc, works, at=0.0):
    done = []

    def submit(_):
        for i, w in enumerate(works):
            proc.submit(Job(w, lambda job: done.append((job.arg, round(loop.now, 9))), i))
    loop.at(at, submit)
    return done


def test_one_process_serves_fifo_one_at_a_time():
    node = Pool("n", 4)
    loop = setup(node)
    proc = Proc("r", node)
    done = run_jobs(loop, proc, [0.010, 0.020, 0.005])
    loop.run()
    # four CPUs, but one thread: the jobs run back to back, in order
    assert done == [(0, 0.010), (1, 0.030), (2, 0.035)]
    assert proc.cpu_s == pytest.approx(0.035)


def test_processes_share_fewer_cpus_equally():
    node = Pool("n", 1)
    loop = setup(node)
    a, b = Proc("a", node), Proc("b", node)
    done_a = run_jobs(loop, a, [0.010])
    done_b = run_jobs(loop, b, [0.010])
    loop.run()
    # both busy on one CPU: each at half speed, both end at 20 ms
    assert done_a == [(0, 0.020)] and done_b == [(0, 0.020)]


def test_sharing_ends_when_one_finishes():
    node = Pool("n", 1)
    loop = setup(node)
    a, b = Proc("a", node), Proc("b", node)
    done_a = run_jobs(loop, a, [0.010])
    done_b = run_jobs(loop, b, [0.030])
    loop.run()
    # a: 10 ms of work at half speed -> 20 ms; b did 10 ms by then, 20 ms left alone
    assert done_a == [(0, 0.020)] and done_b == [(0, 0.040)]


def test_enough_cpus_means_no_contention():
    node = Pool("n", 2)
    loop = setup(node)
    a, b = Proc("a", node), Proc("b", node)
    done_a, done_b = run_jobs(loop, a, [0.010]), run_jobs(loop, b, [0.010])
    loop.run()
    assert done_a == [(0, 0.010)] and done_b == [(0, 0.010)]


def test_weights_share_as_the_kernel_does():
    node = Pool("n", 1)
    loop = setup(node)
    heavy, light = Proc("heavy", node, weight=1.0), Proc("light", node, weight=1 / 9.0)
    done_h, done_l = run_jobs(loop, heavy, [0.009]), run_jobs(loop, light, [0.010])
    loop.run()
    # heavy gets 0.9 of the CPU: its 9 ms take 10 ms; light did 1 ms meanwhile, 9 alone
    assert done_h == [(0, 0.010)]
    assert done_l == [(0, 0.019)]


def test_water_fill_caps_a_process_at_one_cpu():
    node = Pool("n", 3)
    a, b = Proc("a", node, weight=10.0), Proc("b", node, weight=1.0)
    water_fill([a, b], [node])
    # a would get 10/11 x 3 > 1: capped at 1, b gets one CPU too (its own cap)
    assert a.rate == pytest.approx(1.0) and b.rate == pytest.approx(1.0)


def test_nested_pools_share_the_machine():
    machine = Pool("machine", 2)
    edge, cloud = Pool("edge", 1, machine), Pool("cloud", 1, machine)
    e, c1, c2, gateway = Proc("e", edge), Proc("c1", cloud), Proc("c2", cloud), Proc("gw", machine)
    water_fill([e, c1, c2, gateway], [machine, edge, cloud])
    # the cloud CPU is shared by its two; the gateway runs beside edge's one on the other CPU
    assert c1.rate == pytest.approx(0.5) and c2.rate == pytest.approx(0.5)
    assert e.rate == pytest.approx(0.5) and gateway.rate == pytest.approx(0.5)
    water_fill([e, gateway], [machine, edge, cloud])
    assert e.rate == pytest.approx(1.0) and gateway.rate == pytest.approx(1.0)


def test_a_stalled_pool_runs_nothing_until_released():
    node = Pool("n", 1)
    loop = setup(node)
    proc = Proc("r", node)
    done = run_jobs(loop, proc, [0.010])

    def stall(_):
        node.stalled = True
        node.domain.changed()

    def release(_):
        node.stalled = False
        node.domain.changed()
    loop.at(0.004, stall)
    loop.at(0.104, release)
    loop.run()
    assert done == [(0, 0.110)]


def test_a_killed_process_fails_its_job_and_queue():
    node = Pool("n", 1)
    loop = setup(node)
    proc = Proc("r", node)
    outcomes = []

    def submit(_):
        for i in range(3):
            proc.submit(Job(0.010, lambda job: outcomes.append((job.arg, job.failed, round(loop.now, 9))), i))
    loop.at(0.0, submit)
    loop.at(0.015, lambda _: proc.kill())
    loop.at(0.020, lambda _: proc.submit(Job(0.01, lambda job: outcomes.append(("late", job.failed, loop.now)))))
    loop.run()
    assert outcomes == [(0, False, 0.010), (1, True, 0.015), (2, True, 0.015), ("late", True, 0.020)]


def test_event_loop_runs_ties_in_scheduling_order():
    loop = EventLoop()
    seen = []
    for name in "abc":
        loop.at(1.0, seen.append, name)
    loop.at(0.5, seen.append, "first")
    loop.run()
    assert seen == ["first", "a", "b", "c"] and loop.now == 1.0

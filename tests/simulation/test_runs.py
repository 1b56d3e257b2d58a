"""`faasml bench simulate` end to end on small settings: the report, the live traces,
determinism; herding and the validation's comparison on made-up figures."""
import json
from pathlib import Path

import pytest

from faasml.cli import build_parser
from faasml.evaluation.trace import make_trace, trace_seed
from faasml.simulation import observe
from faasml.simulation.runner import SimSettings, run_simulation

VOLATILE = {"started_at", "finished_at", "wall_s", "cpu_s", "solve_s", "requests_per_wall_s", "requests_per_cpu_s", "machine",
            "git", "command", "out", "estimate_s", "plots"}


def _stable(value):
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _settings(tmp_path: Path, name: str, **overrides) -> SimSettings:
    base = dict(scenarios=["mix"], policies=["tradeoff", "random"], loads=[0.6], duration_s=3.0, capacity_per_s=60.0,
                out=tmp_path / name, plots=False)
    base.update(overrides)
    return SimSettings(**base)


def test_a_small_run_writes_the_evaluations_report_on_the_live_trace(tmp_path):
    report = run_simulation(_settings(tmp_path, "a", plots=True), stream=open("/dev/null", "w"))
    out = tmp_path / "a"
    assert (out / "report.md").is_file() and (out / "report.json").is_file()
    text = (out / "report.md").read_text()
    assert "# faasml simulation report" in text and "Correct-in-time rate" in text and "swing" in text
    assert all((out / p).is_file() for p in report["plots"]["mix"]) and report["plots"]["mix"]
    scenario = report["scenarios"][0]
    level = scenario["loads"][0]
    # the trace a live run of the same settings replays (same seed, rate, duration, pool)
    from faasml.evaluation.scenario import resolve_scenarios
    from faasml.evaluation.runner import fingerprint

    mix = resolve_scenarios(["mix"])[0]
    live = make_trace(mix, 0.6 * 60.0, 3.0, 300, trace_seed(7, "mix", "0.6"), 5000)
    assert level["trace"]["fingerprint"] == fingerprint(live) and level["trace"]["requests"] == len(live)
    for policy, m in level["policies"].items():
        assert sum(m["status"].values()) == len(live)
        assert 0.0 <= m["correct_in_time_rate"] <= m["in_time_rate"] <= 1.0
        assert m["sim"]["decisions"] >= len(live) * 0.9 and m["sim"]["requests_per_cpu_s"] > 0
        records = (out / m["records_file"])
        assert records.is_file()
    # answered by variants of the task, each policy its own
    assert set(level["policies"]["random"]["variant_share"]) <= set(scenario["topology"]["variants"])


def test_one_seed_one_report_another_seed_another(tmp_path):
    quiet = open("/dev/null", "w")
    first = run_simulation(_settings(tmp_path, "one"), stream=quiet)
    again = run_simulation(_settings(tmp_path, "two"), stream=quiet)
    other = run_simulation(_settings(tmp_path, "three", seed=8), stream=quiet)
    assert _stable(first) == _stable(again)
    assert _stable(first["scenarios"]) != _stable(other["scenarios"])
    # the per-request records too, byte for byte (inside the gzip, whose header has a time)
    import gzip

    name = first["scenarios"][0]["loads"][0]["policies"]["tradeoff"]["records_file"]
    assert gzip.decompress((tmp_path / "one" / name).read_bytes()) == \
        gzip.decompress((tmp_path / "two" / name).read_bytes())


def test_several_seeds_pool_their_requests_and_keep_each_seeds_figures(tmp_path):
    report = run_simulation(_settings(tmp_path, "s", policies=["tradeoff"], seeds=3), stream=open("/dev/null", "w"))
    level = report["scenarios"][0]["loads"][0]
    seeds = level["policies"]["tradeoff"]["seeds"]
    assert [s["seed"] for s in seeds] == [7, 8, 9]
    assert len({s["fingerprint"] for s in level["trace"]["seeds"]}) == 3     # three traces
    pooled = level["policies"]["tradeoff"]
    assert pooled["requests"] == sum(s["requests"] for s in seeds)
    weighted = sum(s["correct_in_time_rate"] * s["requests"] for s in seeds) / pooled["requests"]
    assert pooled["correct_in_time_rate"] == pytest.approx(weighted, abs=1e-3)
    # the first seed is the live trace, as with one seed
    single = run_simulation(_settings(tmp_path, "one", policies=["tradeoff"]), stream=open("/dev/null", "w"))
    assert single["scenarios"][0]["loads"][0]["trace"]["fingerprint"] == level["trace"]["fingerprint"]


def test_herding_figures():
    steady = {"a": [10, 10, 10, 10], "b": [10, 10, 10, 10]}
    swinging = {"a": [20, 0, 20, 0], "b": [0, 20, 0, 20]}
    assert observe.herding(steady, 0.25)["swing"] == 0.0
    assert observe.herding(swinging, 0.25)["swing"] == 0.5
    assert observe.herding(swinging, 0.25)["peak_share_p95"] == 1.0
    assert observe.replica_disagreement([{"a": 5, "b": 5}, {"a": 5, "b": 5}]) == 0.0
    assert observe.replica_disagreement([{"a": 10}, {"b": 10}]) == 0.5
    assert observe.by_function({"x@site-01": 0.25, "x@site-02": 0.25, "y": 0.5}) == {"x": 0.5, "y": 0.5}


def test_paired_difference_sees_a_real_difference_and_not_noise():
    from faasml.simulation.validate import paired_difference

    times = [i * 0.1 for i in range(100)]
    better = [i % 10 < 8 for i in range(100)]
    worse = [i % 10 < 5 for i in range(100)]
    clear = paired_difference(better, worse, times, 1)
    assert clear["difference"] == pytest.approx(0.3) and clear["low"] > 0
    same = paired_difference(better, better[::-1], times, 1)
    assert same["low"] <= 0 <= same["high"]


def test_seeds_are_the_pairs_of_the_comparisons_against_ours(tmp_path):
    report = run_simulation(_settings(tmp_path, "c", policies=["tradeoff", "random"], seeds=2),
                            stream=open("/dev/null", "w"))
    level = report["scenarios"][0]["loads"][0]
    comparison = level["comparisons"]["random"]["correct_in_time"]
    assert level["rounds"] == 2 and comparison["pairs"] == 2
    assert comparison["verdict"] in ("win", "tie", "loss") and comparison["ci95"][0] <= comparison["ci95"][1]
    assert "Ours (`tradeoff`) against each policy" in (tmp_path / "c" / "report.md").read_text()


def test_control_plane_cpu_is_measured_from_live_runs(tmp_path):
    from faasml.evaluation.loadgen import Record
    from faasml.evaluation.records import write_records
    from faasml.simulation.calibration import overheads_from_report

    def record(seq, variant):
        return Record(seq=seq, cls="c", policy="p", t_s=seq * 0.1, lateness_ms=0.0, outcome="200", status=200,
                      latency_ms=20.0, deadline_ms=100.0, tradeoff=0.5, variant=variant, compute_ms=10.0)
    write_records(tmp_path / "r.jsonl.gz", [record(i, "near" if i % 2 else "far") for i in range(100)])
    run = {"records_file": "r.jsonl.gz", "cpu": {"totals_s": {"gateway": 0.3, "selector": 0.2, "harness": 0.1,
                                                                "near": 0.6, "far": 0.6}}}
    report = {"scenarios": [{"topology": {"variants": {"near": {"rtt_ms": 0}, "far": {"rtt_ms": 30}}},
                             "loads": [{"load": 0.25, "policies": {"p": {"records_files": ["r.jsonl.gz"]}},
                                        "runs": [{"p": run}]},
                                       {"load": 1.5, "policies": {"p": {"records_file": "r.jsonl.gz", "cpu": {
                                           "totals_s": {"gateway": 9.0}}}}}]}]}
    figures = overheads_from_report(report, tmp_path)
    # 100 requests, 50 of them also through the gateway to the far node: 150 passes
    assert figures["gateway_ms"] == pytest.approx(2.0) and figures["selector_ms"] == pytest.approx(2.0)
    assert figures["client_ms"] == pytest.approx(1.0)
    assert figures["executor_http_ms"] == pytest.approx(2.0)   # 1.2 s of executor CPU, 1.0 s of it compute
    assert figures["runs"] == 1                                   # the 150% run does not count


def test_the_command_line_parses_and_refuses_bad_values(capsys):
    from faasml.simulation.commands import sim_settings_from, validate_settings_from

    parser = build_parser()
    args = parser.parse_args(["bench", "simulate", "--scenario", "cluster", "--selectors", "1,4,16", "--loads",
                              "50%,1", "--max-requests", "0", "--capacity", "5000"])
    settings = sim_settings_from(args)
    assert settings.selectors == [1, 4, 16] and settings.loads == [0.5, 1.0] and settings.max_requests is None
    assert settings.capacity_per_s == 5000.0
    validate = validate_settings_from(parser.parse_args(["bench", "simulate", "--validate", "--loads", "0.5"]))
    assert validate.scenarios == ["mix", "edge-cloud"] and validate.loads == [0.5]
    with pytest.raises(SystemExit):
        parser.parse_args(["bench", "simulate", "--selectors", "0"])
    assert "selector replicas" in capsys.readouterr().err


def test_missing_inputs_are_one_line_not_a_traceback(tmp_path, capsys):
    from faasml.cli import main

    code = main(["bench", "simulate", "--scenario", "mix", "--profiles", str(tmp_path / "none.json")])
    assert code == 2 and "not found" in capsys.readouterr().err
    bad = tmp_path / "bad.yml"
    bad.write_text(json.dumps({"task": "image-classification", "classes": {"x": {"share": 1, "tradeoff": 0,
                               "deadline_ms": 50}}, "cluster": {"sites": 1, "moon": 3}}))
    code = main(["bench", "simulate", "--scenario", str(bad), "--out", str(tmp_path / "o")])
    assert code == 2 and "moon" in capsys.readouterr().err


def test_one_seed_one_history_whatever_the_interpreters_string_hashing(tmp_path):
    """Sets and dicts of strings iterate in an order that moves with PYTHONHASHSEED: a
    history that depended on it would differ between processes."""
    import subprocess
    import sys

    script = (
        "import hashlib, json, sys\n"
        "from pathlib import Path\n"
        "from faasml.simulation.runner import SimSettings, run_simulation\n"
        "from faasml.evaluation.records import read_records\n"
        "out = Path(sys.argv[1])\n"
        "r = run_simulation(SimSettings(scenarios=['edge-cloud'], policies=['tradeoff'], loads=[0.9], duration_s=2,"
        " capacity_per_s=60, out=out, plots=False, bound=False), stream=open('/dev/null', 'w'))\n"
        "name = r['scenarios'][0]['loads'][0]['policies']['tradeoff']['records_file']\n"
        "print(hashlib.sha256(json.dumps([x.to_row() for x in read_records(out / name)]).encode()).hexdigest())\n")
    digests = []
    for hash_seed in ("1", "2"):
        done = subprocess.run([sys.executable, "-c", script, str(tmp_path / hash_seed)], capture_output=True,
                              text=True, env={**__import__("os").environ, "PYTHONHASHSEED": hash_seed}, timeout=120,
                              cwd=str(Path(__file__).resolve().parents[2]))
        assert done.returncode == 0, done.stderr
        digests.append(done.stdout.strip())
    assert digests[0] == digests[1] and len(digests[0]) == 64


def test_the_capacity_bound_holds_above_every_simulated_policy(tmp_path):
    report = run_simulation(_settings(tmp_path, "b", policies=["tradeoff", "random", "most-accurate"],
                                      loads=[0.5, 4.0], duration_s=4.0), stream=open("/dev/null", "w"))
    for level in report["scenarios"][0]["loads"]:
        bound = level["bound"]
        assert "error" not in bound
        for policy, m in level["policies"].items():
            assert m["correct_in_time_rate"] <= bound["correct_in_time"]["rate"] + 1e-6, policy
            assert m["in_time_rate"] <= bound["in_time"]["rate"] + 1e-6, policy
            assert m["effective_accuracy"] <= bound["effective_accuracy"]["rate"] + 1e-6, policy


def test_a_policy_under_other_selector_settings_is_one_more_policy_on_the_same_traces(tmp_path):
    from faasml.simulation.runner import policy_setting, selector_config

    base = selector_config()
    name, config = policy_setting("tradeoff@FAASML_MAX_QUEUE_MS=100+FAASML_HOLD_S=0", base)
    assert name == "tradeoff" and config.max_queue_ms == 100.0 and config.hold_s == 0.0
    assert policy_setting("random", base) == ("random", base)
    for bad in ("tradeoff@MAX_QUEUE_MS=1", "tradeoff@FAASML_NOPE=1", "tradeoff@FAASML_HOLD_S=soon", "nope"):
        with pytest.raises(ValueError):
            policy_setting(bad, base)
    # In a run: one more column, compared with ours on the same traces.
    labelled = "tradeoff@FAASML_MAX_QUEUE_MS=100"
    report = run_simulation(_settings(tmp_path, "d", policies=["tradeoff", labelled]), stream=open("/dev/null", "w"))
    level = report["scenarios"][0]["loads"][0]
    assert set(level["policies"]) == {"tradeoff", labelled} and labelled in level["comparisons"]
    with pytest.raises(ValueError):
        run_simulation(_settings(tmp_path, "e", policies=["tradeoff@FAASML_NOPE=1"]), stream=open("/dev/null", "w"))

"""`faasml invoke` and `faasml status` against a running platform; `--help` examples."""
from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from faasml.cli import build_parser, main
from faasml.cli_examples import subcommands

from .platform import ACCURATE_VARIANT, FAST_VARIANT, IMAGE_TASK


@pytest.fixture
def red_jpeg(tmp_path):
    path = tmp_path / "red.jpg"
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (220, 20, 20)).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue())
    return path


def test_invoke_prints_the_answer_and_the_choice(platform, red_jpeg, capsys):
    assert main(["invoke", IMAGE_TASK, str(red_jpeg), "--tradeoff", "1", "--gateway", platform.url,
                 "--plain"]) == 0
    out = capsys.readouterr().out
    answer, choice = out.split("choice\n")
    assert answer.splitlines()[2].split()[0] == "red"            # the top label, first row
    assert f"variant               {ACCURATE_VARIANT}" in choice
    for what in ("accuracy", "predicted latency ms", "compute ms", "attempts"):
        assert what in choice


def test_invoke_explain_prints_the_candidates_without_running(platform, red_jpeg, capsys):
    # This platform allows one request per slot, and the selector learns of the previous
    # test's request leaving only at its next metrics poll (0.5 s): until then the accurate
    # variant is rightly "full". Ask again for a few seconds; the ranking must then hold.
    deadline = time.monotonic() + 5.0
    while True:
        assert main(["invoke", IMAGE_TASK, str(red_jpeg), "--tradeoff", "0", "--min-accuracy", "0.7",
                     "--explain", "--gateway", platform.url, "--plain"]) == 0
        out = capsys.readouterr().out
        if f"chosen {ACCURATE_VARIANT}" in out or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert f"chosen {ACCURATE_VARIANT}" in out                    # the only one left at 0.7
    row = next(line for line in out.splitlines() if line.startswith("-") and FAST_VARIANT in line)
    assert "below min_accuracy" in row


def test_invoke_refusal_exits_1_with_the_error(platform, red_jpeg, capsys):
    assert main(["invoke", IMAGE_TASK, str(red_jpeg), "--min-accuracy", "0.99",
                 "--gateway", platform.url]) == 1
    err = capsys.readouterr().err
    assert "422 infeasible" in err and "limit: min_accuracy" in err
    assert main(["invoke", IMAGE_TASK, "/no/such/file", "--gateway", platform.url]) == 2


def test_status_shows_functions_replicas_per_node_and_live_load(platform, tmp_path, monkeypatch, capsys):
    for name in ("FAASML_GATEWAY_PASSWORD", "OPENFAAS_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    wrong = tmp_path / "wrong-password"
    wrong.write_text("wrong\n")
    assert main(["status", "--gateway", platform.url, "--password-file", str(wrong), "--plain"]) == 1
    assert "401" in capsys.readouterr().err
    # The default: the environment (here), else .faasml/basic-auth-password in this folder.
    monkeypatch.setenv("FAASML_GATEWAY_PASSWORD", platform.password)
    assert main(["status", "--gateway", platform.url, "--plain"]) == 0
    out = capsys.readouterr().out
    functions_table, nodes_table, candidates, others = out.split("\n\n")[:4]
    rows = {line.split()[0]: line for line in functions_table.splitlines()[1:]}
    assert "edge:1/1" in rows[FAST_VARIANT] and "cloud:1/1" in rows[ACCURATE_VARIANT]
    assert "unschedulable" in rows["ghost"] and "0/1" in rows["ghost"]
    assert any(line.startswith("edge ") for line in nodes_table.splitlines())
    # The selector's variants: the ready ones as candidates with a prediction, the one no
    # node can run apart, with the reason, and no predicted latency.
    assert candidates.startswith("candidates now: variants the selector (selector) may choose")
    candidate_names = [line.split()[0] for line in candidates.splitlines()[2:]]
    assert {FAST_VARIANT, ACCURATE_VARIANT} <= set(candidate_names) and "ghost" not in candidate_names
    assert others.startswith("not candidates now")
    ghost = next(line for line in others.splitlines() if line.startswith("ghost"))
    assert "0/1" in ghost and "unschedulable: " in ghost
    assert "selector selector" not in out


def test_status_reads_the_password_file_make_run_writes(platform, tmp_path, monkeypatch, capsys):
    for name in ("FAASML_GATEWAY_PASSWORD", "OPENFAAS_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["status", "--gateway", platform.url, "--plain"]) == 1     # no password anywhere: 401
    assert "401" in capsys.readouterr().err
    (tmp_path / ".faasml").mkdir()
    (tmp_path / ".faasml" / "basic-auth-password").write_text(platform.password)
    assert main(["status", "--gateway", platform.url, "--plain"]) == 0
    assert "functions on " + platform.url in capsys.readouterr().out
    assert main(["status", "--gateway", platform.url, "--password-file", "/no/such/file"]) == 2
    assert "cannot read the password file /no/such/file" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["-AEbXq2", "s3cret"])
def test_a_password_on_the_command_line_is_refused_without_echoing_it(value, capsys):
    def refused(argv: list[str]) -> str:
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2
        err = capsys.readouterr().err
        assert value not in err, argv
        return err

    for argv in (["status", "--password", value], ["invoke", "t", "f", f"--password={value}"]):
        err = refused(argv)
        assert "is not accepted" in err and "FAASML_GATEWAY_PASSWORD" in err and "--password-file" in err
    refused(["status", "--passw", value])   # an abbreviation: ambiguous, and still not echoed


def test_every_command_has_help_with_examples(capsys):
    parser = build_parser()
    commands = dict(subcommands(parser))
    assert {"invoke", "status", "up", "models build", "bench evaluate"} <= set(commands)
    for path, sub in [("faasml", parser), *commands.items()]:
        help_text = sub.format_help()
        assert "examples:\n" in help_text and "faasml " in help_text.split("examples:")[1], path


def test_an_embedding_is_summarised_not_printed_whole(capsys):
    from faasml.client.display import answer_rows, print_table

    vector = [0.05] * 384
    one = {"task": "sentence-embedding", "variant": "minilm-l6-fp32", "dim": 384, "embedding": vector,
           "truncated": False}
    print_table(*answer_rows(one), rich=False)
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "answer: 1 embedding from minilm-l6-fp32"
    assert out.splitlines()[1].split() == ["input", "dimension", "norm", "truncated", "first", "values"]
    assert out.splitlines()[2].split()[:4] == ["0", "384", "0.98", "False"]   # sqrt(384) x 0.05
    assert "[0.0500, 0.0500, 0.0500, 0.0500, ...]" in out and len(out) < 300
    many = {"embeddings": [vector, [0.6, 0.8]], "truncated": [True, False]}
    title, header, rows = answer_rows(many)
    assert title == "answer: 2 embeddings" and [r[:4] for r in rows] == [[0, 384, rows[0][2], True], [1, 2, 1.0, False]]
    assert rows[1][4] == "[0.6000, 0.8000]"
    assert answer_rows({"embedding": "not a vector"})[1] == ["field", "value"]


def test_status_splits_the_selectors_variants_into_candidates_and_the_rest():
    from faasml.client.commands import split_candidates

    def variant(name, available, replicas, predicted):
        return {"variant": name, "function": name, "task": "image-classification", "node_class": "edge",
                "accuracy": 0.7, "replicas": replicas, "available_replicas": available,
                "live": {"predicted_latency_ms": predicted, "service_ms": 2.0, "queue_ms": 0.0, "inflight": 0,
                         "cooling_down": False}}

    live = [variant("slow", 1, 1, 20.0), variant("gpu", 0, 1, 2.9), variant("idle", 0, 0, 3.0),
            variant("fast", 1, 1, 5.0), variant("booting", 0, 1, 4.0)]
    functions = {"gpu": {"unschedulable": "no node has faasml.io/node-class=gpu"}, "booting": {"unschedulable": ""}}
    candidates, others = split_candidates(live, functions)
    assert [row[0] for row in candidates] == ["fast", "slow"]          # by predicted latency
    assert {row[0]: row[5] for row in others} == {
        "gpu": "unschedulable: no node has faasml.io/node-class=gpu",
        "idle": "scaled to zero (a request through the gateway wakes it)",
        "booting": "starting or failing its readiness check"}
    assert all(2.9 not in row and 4.0 not in row for row in others)   # no prediction for what cannot run

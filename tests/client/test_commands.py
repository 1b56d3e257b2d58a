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


def test_status_shows_functions_replicas_per_node_and_live_load(platform, capsys):
    assert main(["status", "--gateway", platform.url, "--password", "wrong", "--plain"]) == 1
    assert "401" in capsys.readouterr().err
    assert main(["status", "--gateway", platform.url, "--password", platform.password, "--plain"]) == 0
    out = capsys.readouterr().out
    functions_table = out.split("\n\n")[0]
    rows = {line.split()[0]: line for line in functions_table.splitlines()[1:]}
    assert "edge:1/1" in rows[FAST_VARIANT] and "cloud:1/1" in rows[ACCURATE_VARIANT]
    assert "unschedulable" in rows["ghost"] and "0/1" in rows["ghost"]
    assert "selector selector: variants now" in out
    assert any(line.startswith("edge ") for line in out.splitlines())   # the nodes table


def test_every_command_has_help_with_examples(capsys):
    parser = build_parser()
    commands = dict(subcommands(parser))
    assert {"invoke", "status", "up", "models build", "bench evaluate"} <= set(commands)
    for path, sub in [("faasml", parser), *commands.items()]:
        help_text = sub.format_help()
        assert "examples:\n" in help_text and "faasml " in help_text.split("examples:")[1], path

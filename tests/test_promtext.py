"""The Prometheus text parser both the selector and `faasml up` read metrics with."""
from faasml.promtext import parse_samples


def test_exposition_parser_handles_escapes_and_specials():
    text = ('# HELP x y\n'
            'm{a="q\\"uote",b="back\\\\slash",c="new\\nline"} 3 1700000000\n'
            'm{le="+Inf"} +Inf\n'
            'plain 2.5e-3\n')
    samples = list(parse_samples(text))
    assert samples[0].labels == {"a": 'q"uote', "b": "back\\slash", "c": "new\nline"}
    assert samples[0].value == 3 and samples[1].value == float("inf") and samples[2].value == 0.0025
    assert [s.name for s in parse_samples(text, {"plain"})] == ["plain"]


def test_bad_lines_are_skipped_and_counted_never_raised(caplog):
    from faasml import promtext

    before = promtext.skipped_lines()
    text = ('good 1\n'
            'gateway_function_invocation_total{function_name="a"}\n'      # no value
            'no_value_plain\n'
            'broken{a="1" 3\n'                                            # no closing brace
            'bad_labels{a=1} 2\n'
            'not_a_number{a="x"} twelve\n'
            'good{a="y"} 2\n')
    samples = list(parse_samples(text))
    assert [(s.name, s.value) for s in samples] == [("good", 1.0), ("good", 2.0)]
    assert promtext.skipped_lines() - before == 5
    assert any("not samples" in record.getMessage() for record in caplog.records) or before > 0
    # a reader interested in other names skips the bad line all the same, without raising
    assert list(parse_samples('gateway_service_count{function_name="a"}\n', {"other"})) == []

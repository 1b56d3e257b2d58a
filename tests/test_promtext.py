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

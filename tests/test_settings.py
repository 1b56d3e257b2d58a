"""Settings declared once (faasml/settings.py): reading, precedence, refusal, and the docs
naming every variable each component reads."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from faasml.executor.config import ExecutorConfig
from faasml.runtime.config import RuntimeConfig
from faasml.selector.config import SelectorConfig
from faasml.settings import ConfigError, declared, load, number, setting, whole_number

DOCS = Path(__file__).resolve().parents[1] / "docs"


@dataclass(frozen=True)
class Example:
    name: str = setting("EXAMPLE_NAME", doc="required: no default")
    count: int = setting(("EXAMPLE_COUNT", "OLD_COUNT"), 3, whole_number(1), "a count", flag="--count")
    ratio: float = setting("EXAMPLE_RATIO", 0.5, number(), "a ratio")


def test_flag_then_first_variable_then_default():
    env = {"EXAMPLE_NAME": "x", "OLD_COUNT": "4", "EXAMPLE_RATIO": "  "}
    assert load(Example, env) == Example("x", 4, 0.5)   # blank counts as unset
    assert load(Example, {**env, "EXAMPLE_COUNT": "5"}).count == 5
    assert load(Example, env, flags={"count": "6"}).count == 6
    assert load(Example, env, count=7).count == 7       # given in code: taken as is


def test_missing_required_and_bad_values_name_their_source():
    with pytest.raises(ConfigError, match="^EXAMPLE_NAME is not set: required: no default$"):
        load(Example, {})
    with pytest.raises(ConfigError, match="^OLD_COUNT='0': must be at least 1$"):
        load(Example, {"EXAMPLE_NAME": "x", "OLD_COUNT": "0"})
    with pytest.raises(ConfigError, match="^--count='two': not a whole number$"):
        load(Example, {"EXAMPLE_NAME": "x"}, flags={"count": "two"})
    with pytest.raises(ConfigError, match="^EXAMPLE_RATIO='nan': must be finite$"):
        load(Example, {"EXAMPLE_NAME": "x", "EXAMPLE_RATIO": "nan"})


@pytest.mark.parametrize("config, page", [(SelectorConfig, "selector.md"), (ExecutorConfig, "executors.md"),
                                          (RuntimeConfig, "runtime.md")])
def test_every_variable_a_component_reads_is_documented(config, page):
    text = (DOCS / page).read_text()
    missing = [name for names in declared(config).values() for name in names if f"`{name}`" not in text]
    assert not missing, f"{page} does not name {missing}"

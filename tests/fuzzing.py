"""Hypothesis profiles for the property-based tests over every request edge.

`make test` runs the `default` profile: few examples and a per-example deadline, so the
properties stay part of the fast suite. `make fuzz` selects `fuzz` (HYPOTHESIS_PROFILE=fuzz):
many more examples per property, the same properties. Loaded by tests/conftest.py.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILE_ENV = "HYPOTHESIS_PROFILE"

settings.register_profile("default", max_examples=40, deadline=2000,
                          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                 HealthCheck.too_slow])
settings.register_profile("fuzz", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                 HealthCheck.too_slow])


def load_profile() -> str:
    name = os.environ.get(PROFILE_ENV, "default")
    settings.load_profile(name)
    return name

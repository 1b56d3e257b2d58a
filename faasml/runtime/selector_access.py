"""How the local runtime itself calls the selector functions it runs: which functions
are selectors, and the credential a selector with API keys on wants.

The gateway calls its selectors for two things of its own, never for a client: the
direct-call counters on their `/metrics` (direct_calls.py) and the recent decisions the
dashboard shows (dashboard/web.py). A selector with `FAASML_API_KEYS_SECRET` answers
every route but `/ready` only to one of its keys, so the gateway presents the first
one, read from the secret as the selector has it mounted. The label, the setting and
the secret's format are the two sides' contract (faasml/contract.py).
"""
from __future__ import annotations

from typing import Iterator

from faasml.contract import API_KEYS_ENV, ROLE_LABEL, ROLE_SELECTOR, parse_keys
from faasml.runtime.provider import LocalProvider


def selectors(provider: LocalProvider) -> Iterator:
    """The supervisors of the functions labelled `faasml.io/role=selector`."""
    for supervisor in list(provider.functions.values()):
        if supervisor.spec.labels.get(ROLE_LABEL) == ROLE_SELECTOR:
            yield supervisor


def selector_credentials(provider: LocalProvider, supervisor) -> list[tuple[str, str]]:
    """The header that opens `supervisor`'s selector: its first API key as a bearer
    token, or none when its API keys are off (or their secret holds no key: the
    selector then refuses everything, and so it should)."""
    secret = supervisor.spec.environment.get(API_KEYS_ENV, "").strip()
    if not secret:
        return []
    files = provider.secrets.files_of(supervisor.spec.namespace, secret) or {}
    keys = parse_keys(files.get(secret, b"").decode("utf-8", "replace"))
    return [("Authorization", f"Bearer {keys[0].decode()}")] if keys else []

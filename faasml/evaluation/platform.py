"""The platform under evaluation: the one local launcher (faasml/launch.py), or a running
gateway, set up as the evaluation needs it.

Two things are the evaluation's own: requests to a keyed selector carry FAASML_API_KEY,
as the client sends it; and a platform of its own reads its latency profiles from a file
of its own (`profiles`), the shipped ones until `--profile-here` measures this machine.
"""
from __future__ import annotations

from pathlib import Path

from faasml.client.protocol import default_api_key
from faasml.launch import DEFAULT_STACK, REPO, LaunchError, LocalPlatform

SHIPPED_PROFILES = REPO / "functions" / "selector" / "profiles.json"


class PlatformError(LaunchError):
    """The platform cannot be evaluated as asked (no capacity, a policy it lacks, ...)."""


def evaluation_platform(folder: Path, stack: Path = DEFAULT_STACK, nodes: Path | None = None,
                        url: str | None = None, password: str | None = None,
                        only: tuple[str, ...] | list[str] = (), start_timeout_s: float = 120.0
                        ) -> LocalPlatform:
    """A platform of its own in `folder` (or, with `url`, the running gateway there)."""
    env = {}
    if url is None:
        # The selector's profiles are this platform's own file (it re-reads it when it
        # changes): the shipped ones, even in a reused folder, until `profile_here`
        # measures this machine.
        folder.mkdir(parents=True, exist_ok=True)
        profiles = profiles_file(folder)
        profiles.write_text(SHIPPED_PROFILES.read_text() if SHIPPED_PROFILES.is_file() else '{"variants": {}}\n')
        env["FAASML_PROFILES"] = str(profiles)
    # A platform of its own gets a generated password; a running gateway, the one given.
    return LocalPlatform(folder, stack=stack, nodes=nodes, only=only, env=env, url=url,
                         password=password if url is not None else None,
                         selector_key=default_api_key(), start_timeout_s=start_timeout_s)


def profiles_file(folder: Path) -> Path:
    return folder / "profiles.json"

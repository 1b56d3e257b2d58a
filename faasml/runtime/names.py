"""Names that become parts of a path (log files, run folders, secret folders): checked
wherever such a path is built, so no name from a request (`/system/logs?name=../..`) or
a stack file can reach outside the runtime's state folder."""
from __future__ import annotations

import re

from faasml import errors as codes
from faasml.errors import BadRequest

# A DNS-1123 subdomain's characters (what Kubernetes allows a function or namespace to be
# named), with no leading or trailing dot and no "..": never a separator, never a parent.
_SAFE = re.compile(r"^[a-z0-9]([-a-z0-9_.]{0,251}[a-z0-9])?$")


def path_part(name: str, what: str = "name") -> str:
    if not isinstance(name, str) or not _SAFE.fullmatch(name) or ".." in name:
        raise BadRequest(f"{what} {str(name)[:80]!r} is not a valid name (a-z, 0-9, '-', '_', '.')",
                         code=codes.BAD_NAME)
    return name

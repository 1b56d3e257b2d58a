"""OpenFaaS handler for the selector: every request goes to faasml.selector.

`handle` is a coroutine, so the template serves it on one asyncio event loop (index.py):
the selector's work per request is a decision of tens of microseconds and then waiting
on the chosen function, which a loop does without a thread per request.

`start()` (called once by the template's index.py, before it serves) reads the settings
(faasml/selector/config.py): a bad one stops the process with one line naming it. The
service lists its gateways on the first request, then keeps its registry fresh from
tasks on the same loop. Profiles measured by `faasml profile` ship beside this file
(profiles.json).
"""
import os

# The selection engine's numpy work is element-wise over tens of variants: OpenBLAS's
# worker threads (one per extra core, started at import) would only sit in the process.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import dataclasses  # noqa: E402
import gc  # noqa: E402

from faasml.http import handle_event_async  # noqa: E402
from faasml.selector.config import SelectorConfig  # noqa: E402
from faasml.selector.service import SelectorService  # noqa: E402
from faasml.settings import load_or_exit  # noqa: E402

PROFILES_BESIDE_HANDLER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "profiles.json")
_config = None
_service = None
_frozen = False


def start():
    """Read the settings once, before serving; a bad one ends the process with one line."""
    global _config
    config = load_or_exit(SelectorConfig, "faasml selector")
    _config = config if config.profiles_path else dataclasses.replace(config, profiles_path=PROFILES_BESIDE_HANDLER)


def _get_service():
    global _service
    if _service is not None:
        return _service
    if _config is None:
        start()
    _service = SelectorService(_config)   # on the event loop's one thread: no race to guard
    return _service


async def handle(event, context):
    global _frozen
    service = _get_service()
    result = await handle_event_async(event, service.handle, service.config.max_body_bytes)
    if not _frozen and service.registry.snapshot.variants:
        # Everything alive once the registry is listed lives as long as the process:
        # take it out of the cyclic GC's scans, whose full passes otherwise cost
        # milliseconds in the middle of requests (decision p99 at 500 variants: 4.4 ms
        # -> 0.9 ms).
        _frozen = True
        gc.freeze()
    return result

"""What the selector and the local runtime must agree on, declared once.

The selector (faasml/selector/) and `faasml up` (faasml/runtime/) are separate programs
that meet only over HTTP and the stack's labels: neither imports the other. The names
they both read or write live here:

  * the `faasml.io/role` label and its values: which functions are variants the
    selector may choose, and which are selectors the gateway scrapes and calls;
  * the gateway's Prometheus series the selector reads back as load (the names
    OpenFaaS's gateway exports, which `faasml up` exports too), and the selector's own
    direct-call series, which `faasml up` merges into them;
  * the API-key secret: the setting that names it and the format of its file.
"""
from __future__ import annotations

# -- function labels (stack.yml `labels:`, listed by /system/functions) -----------------
ROLE_LABEL = "faasml.io/role"
ROLE_EXECUTOR = "executor"   # a model variant: the selector's candidates
ROLE_SELECTOR = "selector"   # a selector: the gateway scrapes its direct calls

# -- the gateway's metrics (OpenFaaS's names; `faasml up` serves them as well) -----------
GATEWAY_STARTED = "gateway_function_invocation_started"
GATEWAY_FINISHED = "gateway_function_invocation_total"
GATEWAY_SECONDS = "gateway_functions_seconds"          # a histogram
GATEWAY_REPLICAS = "gateway_service_count"
GATEWAY_INFLIGHT = "gateway_function_invocation_inflight"  # `faasml up` has it; CE gateways do not

# -- the selector's direct calls, as the gateway would have counted them ----------------
# Both carry `function_name`; the histogram also `code`, on the gateway's buckets.
DIRECT_STARTED = "faasml_selector_direct_started_total"
DIRECT_SECONDS = "faasml_selector_direct_seconds"

# -- API keys -------------------------------------------------------------------------
# The selector's setting naming the OpenFaaS secret that holds its keys; the gateway
# reads the same variable from the function's environment to call the selector itself.
API_KEYS_ENV = "FAASML_API_KEYS_SECRET"


def parse_keys(text: str) -> tuple[bytes, ...]:
    """The keys in an API-key secret: one per line; blank lines and `#` comments ignored."""
    keys = (line.strip() for line in text.splitlines())
    return tuple(key.encode() for key in keys if key and not key.startswith("#"))

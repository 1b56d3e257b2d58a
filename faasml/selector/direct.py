"""Direct calls: the selector reaches the chosen function without a second gateway trip.

OpenFaaS's gateway has a `direct_functions` mode: it calls a function's own service
address instead of going through the provider. The selector does the same for the call
it forwards, which removes a whole process hop (parse, proxy, re-send) from every
request. Where the address comes from:

  * `FAASML_DIRECT_URL`, a template such as
    `http://{name}.{namespace}.svc.cluster.local:8080` (a function's Kubernetes Service,
    as the gateway's `direct_functions_suffix` builds it): every variant is called there;
  * else, with `FAASML_DIRECT_FUNCTIONS=auto` (the default), the addresses a gateway's
    listing offers for bypassing it: `faasml up` lists `faasml.directUrls` for replicas
    that run as local processes on nodes without a simulated round trip (the simulated
    distance lives in its gateway, so those are never bypassed), and it adds the calls
    the selector reports here to its own gateway metrics;
  * `FAASML_DIRECT_FUNCTIONS=off`: always through the gateway.

What the gateway would have counted, the selector counts instead and exports with the
gateway's shapes (`DirectCallMetrics`): invocations started, and their duration as a
histogram on the gateway's buckets by status code, per `function_name`. `faasml up`
scrapes and merges them (faasml/runtime/direct_calls.py), so its autoscaler, dashboard
and `/metrics` (which this selector reads back as load) see every call; on a cluster a
Prometheus rule can add them to the gateway's series (docs/selector.md).
"""
from __future__ import annotations

import itertools

from faasml.contract import DIRECT_SECONDS as SECONDS, DIRECT_STARTED as STARTED
from faasml.prometheus import DEFAULT_BUCKETS, Histogram, family, histogram_family, render
from faasml.selector.engine.variant import Variant

DIRECT_MODES = ("auto", "off")


def check_url_template(raw: str) -> str:
    """A direct-address template: an http(s) URL naming {name} (and maybe {namespace})."""
    template = raw.strip()
    if not template.startswith(("http://", "https://")) or "{name}" not in template:
        raise ValueError("not an http(s) URL template naming {name}, e.g. "
                         "http://{name}.{namespace}.svc.cluster.local:8080")
    try:
        template.format(name="f", namespace="ns")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"only {{name}} and {{namespace}} may be named ({exc})") from None
    return template


class DirectRoutes:
    """Which address, if any, to call a variant at instead of its gateway."""

    def __init__(self, mode: str = "auto", url_template: str | None = None):
        self.mode = mode
        self.url_template = url_template
        self._turns = itertools.count()  # round-robin over a listing's replicas

    def url_for(self, variant: Variant) -> str | None:
        if self.mode == "off":
            return None
        if self.url_template:
            return self.url_template.format(name=variant.name, namespace=variant.namespace)
        urls = variant.direct_urls
        if not urls:
            return None
        return urls[0] if len(urls) == 1 else urls[next(self._turns) % len(urls)]


class DirectCallMetrics:
    """The gateway's accounting of the calls that did not go through it."""

    def __init__(self) -> None:
        self._started: dict[str, int] = {}
        self._seconds: dict[tuple[str, str], Histogram] = {}

    def started(self, function_name: str) -> None:
        self._started[function_name] = self._started.get(function_name, 0) + 1

    def finished(self, function_name: str, status: int, seconds: float) -> None:
        key = (function_name, str(status))
        histogram = self._seconds.get(key)
        if histogram is None:
            histogram = self._seconds[key] = Histogram(DEFAULT_BUCKETS)  # the gateway's: merged bucket by bucket
        histogram.observe(seconds)

    def render(self) -> str:
        if not self._started:
            return ""
        return render([
            family(STARTED, "counter", "Invocations the selector sent straight to a function "
                   "(not through its gateway)",
                   [((("function_name", name),), n) for name, n in sorted(self._started.items())]),
            histogram_family(SECONDS, "Duration of the selector's direct invocations, by status "
                             "code (the gateway's buckets)",
                             [((("code", code), ("function_name", name)), histogram)
                              for (name, code), histogram in sorted(self._seconds.items())]),
        ])

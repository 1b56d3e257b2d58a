"""grafana/faasml.json: every panel's PromQL names only metrics and labels the gateway and
the selector really export (rendered by the code that serves their /metrics), and parses
as PromQL (`promtool check rules` on a rules file made of the expressions)."""
from __future__ import annotations

import asyncio

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from faasml.http import Request, Response
from faasml.runtime.metrics import GatewayMetrics
from faasml.selector.recent import RecentDecisions
from faasml.selector.telemetry import COUNTERS, SelectorMetrics

DASHBOARD = Path(__file__).resolve().parents[1] / "grafana" / "faasml.json"
# Grafana's own variables, as Grafana substitutes them before the query reaches Prometheus.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}
PROMQL_WORDS = {"sum", "rate", "irate", "increase", "histogram_quantile", "by", "without", "avg", "max", "min",
                "count", "topk", "bottomk", "on", "ignoring", "group_left", "group_right", "and", "or",
                "unless", "bool", "offset", "clamp_min", "clamp_max", "abs", "le", "inf", "nan"}


def exported() -> dict[str, set[str]]:
    """Every series name the two /metrics paths serve, with its label names: the real
    renderers, each fed one event of every kind so that every family has samples."""
    gateway = GatewayMetrics()
    gateway.started("echo.openfaas-fn")
    gateway.finished("echo.openfaas-fn", 200, 0.01)
    gateway.set_replicas("echo.openfaas-fn", 1, 1)
    selector = SelectorMetrics()
    for name in COUNTERS:
        selector.count(name, task="t", variant="v", policy="p", reason="r", limit="l", code="c", outcome="o")
    selector.observe_decision(1e-4)
    recent = RecentDecisions()
    answered = Response(200, b"{}", {"X-Faasml-Variant": "v", "X-Faasml-Predicted-Latency-Ms": "5"})
    async def answer(request):
        return answered

    async def record():
        await recent.record(Request("POST", "/", {"task": "t", "tradeoff": "0"}), answer)
        await asyncio.sleep(0)   # the entry is written once the answer has gone
    asyncio.run(record())
    series: dict[str, set[str]] = {}
    for line in (gateway.render() + selector.render() + recent.render()).splitlines():
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ", line)
        if match and not line.startswith("#"):
            labels = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', match.group(3) or ""))
            series.setdefault(match.group(1), set()).update(labels)
    return series


def expressions() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    found = [(panel["title"], target["expr"]) for panel in dashboard["panels"]
             for target in panel.get("targets", [])]
    assert len(found) >= 10
    return found


def substitute(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def names_and_labels(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) an expression uses: strings, ranges and functions aside."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', substitute(expr))
    labels = set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", text))
    for group in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", text):
        labels.update(name.strip() for name in group.split(",") if name.strip())
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\b(?:by|without|on|ignoring)\s*\([^)]*\)", " ", text)
    names = {match.group(1) for match in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text)
             if match.group(2) is None and match.group(1).lower() not in PROMQL_WORDS}
    return names, labels


def test_every_panel_uses_exported_metrics_and_labels():
    series = exported()
    for title, expr in expressions():
        names, labels = names_and_labels(expr)
        assert names, f"{title}: no metric found in {expr}"
        for name in names:
            assert name in series, f"{title}: {name} is not exported (known: {sorted(series)})"
        known = set().union(*(series[n] for n in names)) | {"le"}
        assert labels <= known, f"{title}: labels {sorted(labels - known)} not on {sorted(names)}"


def test_the_check_catches_a_misspelt_metric():
    names, labels = names_and_labels('sum by (function_name) (rate(gateway_function_invocations_total[5m]))')
    assert names == {"gateway_function_invocations_total"} and labels == {"function_name"}
    assert "gateway_function_invocations_total" not in exported()


def test_every_expression_parses_as_promql(tmp_path):
    promtool = shutil.which("promtool") or ("/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None)
    if promtool is None:
        pytest.skip("promtool not found: apt-get install prometheus (make test does, as root)")
    rules = ["groups:", "  - name: faasml-dashboard", "    rules:"]
    for index, (_, expr) in enumerate(expressions()):
        rules += [f"      - record: faasml:dashboard_panel_{index}", f"        expr: {json.dumps(substitute(expr))}"]
    path = tmp_path / "dashboard.rules.yml"
    path.write_text("\n".join(rules) + "\n")
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(expressions())} rules found" in result.stdout + result.stderr
    broken = tmp_path / "broken.rules.yml"
    broken.write_text(path.read_text().replace("sum by", "sum bye", 1))
    assert subprocess.run([promtool, "check", "rules", str(broken)], capture_output=True, timeout=60).returncode != 0

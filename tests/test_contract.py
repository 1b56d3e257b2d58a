"""The names the selector and `faasml up` agree on (faasml/contract.py) are the ones each
side really writes and reads."""
from faasml import contract
from faasml.promtext import parse_samples
from faasml.runtime.metrics import GatewayMetrics
from faasml.selector.direct import DirectCallMetrics
from faasml.selector.loadsource import GatewayMetricsLoadSource


def test_the_runtime_writes_every_gateway_series_the_selector_reads():
    metrics = GatewayMetrics()
    metrics.started("echo")
    metrics.finished("echo", 200, 0.01)
    names = {sample.name for sample in parse_samples(metrics.render())}
    assert {contract.GATEWAY_STARTED, contract.GATEWAY_FINISHED, contract.GATEWAY_SECONDS + "_sum",
            contract.GATEWAY_SECONDS + "_count", contract.GATEWAY_INFLIGHT} <= names


def test_the_selector_reads_the_runtime_s_metrics_as_load():
    metrics = GatewayMetrics()
    for _ in range(3):
        metrics.started("echo")
    metrics.finished("echo", 200, 0.01)

    load = GatewayMetricsLoadSource(None, clock=lambda: 1.0).read(metrics.render(), 1.0)  # type: ignore[arg-type]
    assert load["echo"].inflight == 2


def test_the_selector_exports_its_direct_calls_under_the_contract_s_names():
    direct = DirectCallMetrics()
    direct.started("echo")
    direct.finished("echo", 200, 0.01)
    names = {sample.name for sample in parse_samples(direct.render())}
    assert {contract.DIRECT_STARTED, contract.DIRECT_SECONDS + "_bucket", contract.DIRECT_SECONDS + "_sum"} <= names


def test_api_keys_one_a_line_without_blanks_or_comments():
    text = "# rotated 2024-05\n\n  key-one  \nkey-two\n#key-three\n"
    assert contract.parse_keys(text) == (b"key-one", b"key-two")
    assert contract.parse_keys("") == ()

"""The selector's gateway client's old module name, kept only while
tests/selector/test_signals.py still imports it: use `faasml.selector.gateway_client`."""
from faasml.selector.gateway_client import GatewayClient, GatewayEndpoint  # noqa: F401

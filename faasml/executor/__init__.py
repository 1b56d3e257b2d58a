"""Executors: one ONNX model variant served behind the python3-http contract.

`variant` loads a model card + ONNX Runtime session and runs the task's pipeline;
`service` wraps it with readiness, health and request handling (no web framework);
`functions/executors/handler.py` is the few lines OpenFaaS calls.
"""

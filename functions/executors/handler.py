"""OpenFaaS handler for every model variant; the variant comes from the environment.

FAASML_MODEL (the .onnx or .card.json), FAASML_PROVIDER (cpu|cuda) and
FAASML_INTRA_OP_THREADS are set per function in stack.yml. Loading starts at import, in
the background; `GET /ready` answers 503 until the model is loaded.
"""
from faasml.executor.config import ExecutorConfig
from faasml.executor.service import ExecutorService
from faasml.http import from_event

service = ExecutorService(ExecutorConfig.from_env()).start_loading()


def handle(event, context):
    return service.handle(from_event(event)).to_openfaas()

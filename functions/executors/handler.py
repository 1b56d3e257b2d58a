"""OpenFaaS handler for every model variant; the variant comes from the environment.

FAASML_MODEL (the .onnx or .card.json), FAASML_PROVIDER (cpu|cuda) and
FAASML_INTRA_OP_THREADS are set per function in stack.yml (all settings:
faasml/executor/config.py). `start()`, called once by the template's index.py before it
serves, reads them (a bad one stops the process with one line) and starts loading the
model in the background; `GET /ready` answers 503 until it is loaded.
"""
from faasml.executor.config import ExecutorConfig
from faasml.executor.service import ExecutorService
from faasml.http import handle_event
from faasml.settings import load_or_exit

service = None


def start():
    global service
    service = ExecutorService(load_or_exit(ExecutorConfig, "faasml executor")).start_loading()


def handle(event, context):
    return handle_event(event, service.handle, service.config.max_body_bytes)


def max_body_bytes():
    """The body limit the template server enforces before `handle` runs (the executor's own
    FAASML_MAX_BODY_BYTES, 20 MiB by default): a larger body is refused on its Content-Length."""
    return service.config.max_body_bytes

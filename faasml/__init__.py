"""faasml: serverless model selection on OpenFaaS.

The package is the core every part imports: executors (faasml.executor), the model
builder (faasml.models), the one-machine gateway (faasml.runtime), the selector
(faasml.selector); tooling beside them: benchmarks (faasml.bench) and variant profiling
(faasml.profiling). No web framework lives in the core.
"""

__version__ = "0.1.0"

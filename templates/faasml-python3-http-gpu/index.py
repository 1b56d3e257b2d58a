"""Template entrypoint: serves `function/handler.py:handle(event, context)` over HTTP.

Generated from faasml/serving/template.py (`python -m faasml.serving.template --write
templates`): edit it there. It runs behind of-watchdog inside the container
(127.0.0.1:5000, of-watchdog's `upstream_url`) and as a plain process under `faasml up`
(FAASML_LISTEN_PORT). A handler may define `start()` (run once, before serving) and
`max_body_bytes` (its body limit, unless FAASML_SERVER_MAX_BODY names one); a coroutine
`handle` is served on the event loop, a plain one on FAASML_SERVER_THREADS threads.
Settings and limits: docs/api.md ("The function server").
"""
import os
import sys

FUNCTION = os.path.join(os.path.dirname(os.path.abspath(__file__)), "function")
sys.path.insert(0, FUNCTION)

from faasml.serving.template import main  # noqa: E402  (faasml is copied into function/)

if __name__ == "__main__":
    main(FUNCTION)

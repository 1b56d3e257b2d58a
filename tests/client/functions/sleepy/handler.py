"""A test executor whose time the test controls: it answers after `sleep_s` seconds (the
query parameter, else the SLEEP_S environment variable), with the compute-time header a
real executor sends, so the selector's load and deadline logic see a slow variant.
Only POSTs sleep: the runtime's readiness probe (a GET) is answered at once."""
import os
import time


def handle(event, context):
    seconds = float(event.query.get("sleep_s") or os.getenv("SLEEP_S", "0")) if event.method == "POST" else 0.0
    started = time.perf_counter()
    time.sleep(seconds)
    compute_ms = (time.perf_counter() - started) * 1000.0
    return {"statusCode": 200,
            "body": {"task": os.getenv("TASK", ""), "variant": context.hostname, "slept_s": seconds},
            "headers": {"X-Faasml-Compute-Ms": f"{compute_ms:.3f}"}}

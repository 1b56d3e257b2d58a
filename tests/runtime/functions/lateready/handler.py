"""Answers 503 on /ready until READY_AFTER_S seconds after start, like an executor loading its
model; /unload and /load make it unready and ready again (a model being swapped)."""
import os
import time

STARTED = time.monotonic()
READY_AFTER_S = float(os.getenv("READY_AFTER_S", "2"))
state = {"unloaded": False}


def handle(event, context):
    if event.path in ("/unload", "/load"):
        state["unloaded"] = event.path == "/unload"
    loaded = time.monotonic() - STARTED >= READY_AFTER_S and not state["unloaded"]
    if event.path == "/ready":
        return {"statusCode": 200 if loaded else 503, "body": {"ready": loaded}}
    if not loaded:
        return {"statusCode": 503, "body": {"error": {"code": "not_ready", "message": "loading"}}}
    return {"statusCode": 200, "body": {"answer": 42, "pid": os.getpid()}}

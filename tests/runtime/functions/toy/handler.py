"""A toy function for the runtime's tests; the subpath picks the behaviour.

/raw echoes the body and Content-Type byte for byte; /sleep?s=N answers after N seconds;
/exit kills the process mid-request; /print?text=T writes T to stdout (the logs);
/secret?name=N answers the mounted secret N; /env?name=N the environment variable N;
anything else answers JSON describing the request and the process that served it.
"""
import base64
import os
import time


def handle(event, context):
    path = event.path
    if path == "/raw":
        return {"statusCode": 200, "body": event.body,
                "headers": {"Content-Type": event.headers.get("Content-Type", "application/octet-stream")}}
    if path == "/sleep":
        time.sleep(float(event.query.get("s", "1")))
    if path == "/exit":
        os._exit(3)
    if path == "/print":
        print(event.query.get("text", ""), flush=True)
    if path == "/secret":  # read as a function reads /var/openfaas/secrets/<name>
        from faasml.function_secrets import read_secret
        value = read_secret(event.query.get("name", ""))
        return {"statusCode": 200 if value is not None else 404, "body": {"value": value}}
    if path == "/env":
        return {"statusCode": 200, "body": {"value": os.environ.get(event.query.get("name", ""))}}
    if path == "/status":
        return {"statusCode": int(event.query.get("code", "200")), "body": {"status": "as asked"}}
    return {
        "statusCode": 200,
        "body": {
            "method": event.method,
            "path": path,
            "query": event.query,
            "headers": {k.lower(): v for k, v in event.headers.items()},
            "body_b64": base64.b64encode(event.body or b"").decode(),
            "pid": os.getpid(),
            "hostname": context.hostname,
            "cwd": os.getcwd(),
            "greeting": os.getenv("GREETING", ""),
            "cpus": sorted(os.sched_getaffinity(0)),
        },
        "headers": {"X-Replica-Pid": str(os.getpid())},
    }

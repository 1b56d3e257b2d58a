"""`faasml invoke` and `faasml status`: the Python client from a terminal."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

PASSWORD_FILE = Path(".faasml") / "basic-auth-password"  # where `make run` keeps it


def register(subparsers: argparse._SubParsersAction) -> None:
    invoke = subparsers.add_parser("invoke", help="one prediction through the selector; the answer and "
                                   "what was chosen, as tables")
    invoke.add_argument("task", help="e.g. image-classification, sentence-embedding ('' with --variant)")
    invoke.add_argument("file", help="the input: an image, a text file, or - for standard input")
    invoke.add_argument("--tradeoff", type=float, default=None, help="0 = fastest ... 1 = most accurate")
    invoke.add_argument("--max-latency-ms", type=float, default=None, help="hard latency limit")
    invoke.add_argument("--min-accuracy", type=float, default=None, help="hard accuracy limit (0..1)")
    invoke.add_argument("--variant", default=None, help="pin one variant (no policy)")
    invoke.add_argument("--policy", default=None, help="override the ranking policy")
    invoke.add_argument("--content-type", default=None, help="default: from the file's bytes (images) or "
                        "text/plain for .txt")
    invoke.add_argument("--explain", action="store_true",
                        help="print the selector's candidate table for these limits instead (no model runs)")
    invoke.add_argument("--retries", type=int, default=0, help="retry a 429/503 this often, after Retry-After")
    _connection_flags(invoke)
    invoke.set_defaults(func=_invoke)

    status = subparsers.add_parser("status", help="functions, replicas per node and live load of a gateway")
    status.add_argument("--watch", type=float, default=None, metavar="SECONDS",
                        help="redraw every SECONDS (requests/s needs two looks); Ctrl-C stops")
    _connection_flags(status)
    status.set_defaults(func=_status)


class _RefusePasswordOnCommandLine(argparse.Action):
    """`--password` is gone: a secret on a command line is readable by every local user
    (ps, /proc) and stays in the shell's history. Say where it goes instead, without
    echoing the value (an abbreviation of --password-file would otherwise take it as a
    file name and print it in the error)."""

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} is not accepted: a password on a command line is visible to "
                     f"other users and kept in shell history; set FAASML_GATEWAY_PASSWORD or "
                     f"OPENFAAS_PASSWORD, or name a file with --password-file (default {PASSWORD_FILE})")


def _connection_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gateway", default=None,
                        help="gateway URL (default: FAASML_GATEWAY_URL, OPENFAAS_URL, http://127.0.0.1:8080)")
    parser.add_argument("--password-file", type=Path, default=None, metavar="PATH",
                        help="file holding the gateway's basic-auth password (default: FAASML_GATEWAY_PASSWORD "
                        f"or OPENFAAS_PASSWORD from the environment, else {PASSWORD_FILE} where `make run` "
                        "writes it); the password is never taken on the command line")
    parser.add_argument("--password", nargs="?", action=_RefusePasswordOnCommandLine, help=argparse.SUPPRESS)
    parser.add_argument("--api-key", default=None,
                        help="the selector's API key, when its keys are on (default: FAASML_API_KEY)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    parser.add_argument("--plain", action="store_true", help="plain text tables even on a terminal")


def gateway_password(password_file: Path | None, environ=os.environ) -> str | None:
    """The password from `password_file` when named, else the environment, else the
    file `make run` writes (relative to the current folder); None when none is found."""
    if password_file is not None:
        return password_file.read_text().strip()
    from_env = environ.get("FAASML_GATEWAY_PASSWORD") or environ.get("OPENFAAS_PASSWORD")
    if from_env:
        return from_env
    return PASSWORD_FILE.read_text().strip() if PASSWORD_FILE.is_file() else None


def _client_or_none(args: argparse.Namespace, command: str):
    """The client, or None after saying why the named password file cannot be read."""
    from faasml.client import Client

    try:
        password = gateway_password(args.password_file)
    except OSError as exc:
        print(f"faasml {command}: cannot read the password file {args.password_file}: {exc.strerror or exc}",
              file=sys.stderr)
        return None
    return Client(args.gateway, timeout=args.timeout, retries=getattr(args, "retries", 0),
                  password=password, api_key=args.api_key)


def _rich(args: argparse.Namespace) -> bool | None:
    return False if args.plain else None


def _read_input(name: str, content_type: str | None) -> tuple[bytes, str | None]:
    data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    if content_type is None and name.endswith(".txt"):
        content_type = "text/plain; charset=utf-8"
    return data, content_type


def _invoke(args: argparse.Namespace) -> int:
    from faasml.client import ApiError, ClientError
    from faasml.client.display import CANDIDATE_COLUMNS, answer_rows, candidate_rows, print_table

    try:
        data, content_type = _read_input(args.file, args.content_type)
    except OSError as exc:
        print(f"faasml invoke: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    limits = {"tradeoff": args.tradeoff, "max_latency_ms": args.max_latency_ms,
              "min_accuracy": args.min_accuracy, "variant": args.variant, "policy": args.policy}
    client = _client_or_none(args, "invoke")
    if client is None:
        return 2
    with client:
        try:
            if args.explain:
                table = client.explain(args.task or None, **limits)
                print_table(f"candidates for {table['task']} (policy {table['policy']}, chosen {table['chosen']})",
                            [name for name, _ in CANDIDATE_COLUMNS], candidate_rows(table), rich=_rich(args))
                if table.get("verdict"):
                    verdict = table["verdict"]
                    print(f"verdict: {verdict['status']} {verdict['code']}: {verdict['message']}")
                return 0
            answer = client.predict(args.task or None, data, content_type=content_type, **limits)
        except ApiError as exc:
            print(f"faasml invoke: {exc.status} {exc.code}: {exc.message}", file=sys.stderr)
            for key, value in exc.details.items():
                print(f"  {key}: {value}", file=sys.stderr)
            return 1
        except ClientError as exc:
            print(f"faasml invoke: {exc}", file=sys.stderr)
            return 1
    print_table(*answer_rows(answer.result), rich=_rich(args))
    choice = answer.choice()
    print_table("choice", ["what", "value"], [[k.replace("_", " "), v] for k, v in choice.items()],
                rich=_rich(args))
    return 0


def _status(args: argparse.Namespace) -> int:
    from faasml.client import ClientError
    from faasml.runtime.dashboard.overview import RateTracker

    rates = RateTracker()
    client = _client_or_none(args, "status")
    if client is None:
        return 2
    with client:
        while True:
            try:
                _print_status(client, rates, _rich(args))
            except ClientError as exc:
                print(f"faasml status: {exc}", file=sys.stderr)
                return 1
            if args.watch is None:
                return 0
            time.sleep(args.watch)


def _print_status(client, rates, rich: bool | None) -> None:
    from faasml.client import ClientError
    from faasml.client.display import print_table
    from faasml.runtime.dashboard.overview import summarize_function, summarize_nodes

    statuses = client.functions()
    functions = [summarize_function(s) for s in statuses]
    per_second = rates.observe(time.monotonic(), {f["name"]: f["invocations"] for f in functions})
    rows = [[f["name"], f["role"] or "-", f["task"], f["accuracy"],
             f"{f['available_replicas']}/{f['replicas']}",
             " ".join(f"{node}:{n['ready']}/{n['replicas']}" for node, n in sorted(f["per_node"].items()))
             or ("unschedulable" if f["unschedulable"] else "-"),
             f["in_flight"], per_second.get(f["name"]), f["invocations"]] for f in functions]
    print_table(f"functions on {client.gateway_url}",
                ["function", "role", "task", "accuracy", "ready", "replicas per node", "in flight",
                 "req/s", "invocations"], rows, rich=rich)
    print_table("nodes", ["node", "cpus", "rtt ms", "replicas", "in flight", "functions"],
                [[n["name"], n["cpus"], n["rtt_ms"], n["replicas"], n["in_flight"], " ".join(n["functions"])]
                 for n in summarize_nodes(statuses)], rich=rich)
    selector = next((f["name"] for f in functions if f["role"] == "selector"), None)
    if selector is None:
        return
    try:
        client.selector = selector
        live = client.variants()["variants"]
    except ClientError as exc:
        print(f"(the selector's live view is unavailable: {exc})")
        return
    candidates, others = split_candidates(live, {f["name"]: f for f in functions})
    print_table(f"candidates now: variants the selector ({selector}) may choose, with its live prediction",
                ["variant", "task", "node", "accuracy", "predicted ms", "service ms", "queue ms", "in flight",
                 "cooling down"], candidates, rich=rich)
    if others:
        print_table("not candidates now: no ready replica, so the selector skips them",
                    ["variant", "task", "node", "accuracy", "ready", "why"], others, rich=rich)


def split_candidates(live: list[dict], functions: dict[str, dict]) -> tuple[list[list], list[list]]:
    """The selector's variants as two tables' rows: those it may choose now (a ready
    replica; the selector excludes the rest before it predicts anything), by task and
    predicted latency, and the others with the reason from the gateway's own status."""
    candidates, others = [], []
    for v in sorted(live, key=lambda v: (v.get("task") or "", v["live"].get("predicted_latency_ms") or 0)):
        if (v.get("available_replicas") or 0) >= 1:
            candidates.append([v["variant"], v["task"], v.get("node_class"), v["accuracy"],
                               v["live"]["predicted_latency_ms"], v["live"]["service_ms"], v["live"]["queue_ms"],
                               v["live"]["inflight"], "yes" if v["live"].get("cooling_down") else "-"])
            continue
        status = functions.get(v.get("function") or v["variant"]) or {}
        replicas = v.get("replicas") or 0
        if status.get("unschedulable"):
            why = f"unschedulable: {status['unschedulable']}"
        elif replicas == 0:
            why = "scaled to zero (a request through the gateway wakes it)"
        else:
            why = "starting or failing its readiness check"
        others.append([v["variant"], v["task"], v.get("node_class"), v["accuracy"],
                       f"{v.get('available_replicas') or 0}/{replicas}", why])
    return candidates, others

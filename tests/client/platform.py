"""A running platform for the client, CLI and dashboard tests: `faasml up` with the real
selector, two real executors over a tiny ONNX model (one per node, different accuracy
annotations, so the trade-off picks between them), a slow test executor whose time the
test sets, one that always misses its deadline, and one that can never be scheduled."""
from __future__ import annotations

from pathlib import Path

from faasml.launch import LocalPlatform, executor_function, selector_function, two_nodes

REPO = Path(__file__).resolve().parents[2]
SLEEPY = Path(__file__).parent / "functions" / "sleepy"
IMAGE_TASK, SLOW_TASK, DEADLINE_TASK = "image-classification", "slow-task", "deadline-task"
FAST_VARIANT, ACCURATE_VARIANT = "tiny-edge", "tiny-cloud"


def _sleepy(task: str, node_class: str, sleep_s: float) -> dict:
    entry = executor_function("sleepy", SLEEPY / "handler.py", task, node_class, 0.7, 5.0, handler=SLEEPY)
    entry["environment"] = {"TASK": task, "SLEEP_S": str(sleep_s)}
    return entry


def platform_functions(image_card: Path) -> dict[str, dict]:
    functions = {
        FAST_VARIANT: executor_function(FAST_VARIANT, image_card, IMAGE_TASK, "edge", 0.6, 2.0,
                                        handler=REPO / "functions/executors"),
        ACCURATE_VARIANT: executor_function(ACCURATE_VARIANT, image_card, IMAGE_TASK, "cloud", 0.9, 20.0,
                                            handler=REPO / "functions/executors"),
        "sleepy": _sleepy(SLOW_TASK, "slow", 0.0),
        "stuck": _sleepy(DEADLINE_TASK, "slow", 3.0),
        "ghost": _sleepy(SLOW_TASK, "gpu", 0.0),   # no gpu node: unschedulable, never ready
        # One request in flight fills a slot (429 `saturated` for the next); no holding, so
        # a 429 comes at once; no fast-lane budgets (a deadline test would keep the slow
        # node for itself); a quick re-listing so tests see scale changes soon; no stall
        # bound (on busy cores a tiny variant's first answer can pass 300 ms, and a variant
        # set aside as stalled would change what these tests expect the choice to be).
        # Exploration off: these tests state which of two variants a request gets.
        "selector": selector_function({"FAASML_MAX_QUEUE_PER_SLOT": "1", "FAASML_HOLD_S": "0", "FAASML_PROTECT_S": "0",
                                       "FAASML_STALL_FACTOR": "0", "FAASML_EXPLORE_S": "0",
                                       "FAASML_EXPLORE_AGED_S": "0",
                                       "FAASML_REGISTRY_REFRESH_S": "1", "FAASML_METRICS_POLL_S": "0.5"},
                                      REPO / "functions/selector"),
    }
    functions["ghost"]["constraints"] = ["faasml.io/node-class=gpu"]
    return functions


def nodes() -> list[dict]:
    """edge and cloud, and a node of their own for the slow test executors: their long
    (sleeping) requests would otherwise count as work on the cloud node and, rightly,
    steer the selector away from the cloud variant."""
    return [*two_nodes(0.0), {"name": "slow", "labels": {"faasml.io/node-class": "slow"}, "cpus": "all"}]


def start_platform(folder: Path, image_card: Path) -> LocalPlatform:
    """Started, with every function but `ghost` ready and listed by the selector."""
    return LocalPlatform.generated(folder, platform_functions(image_card), nodes()).up(timeout_s=180)

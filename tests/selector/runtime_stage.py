"""The selector's integration stage: `faasml up` with real reference variants."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from faasml.launch import LocalPlatform, executor_function, selector_function, two_nodes

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"
TASK = "image-classification"
# The fastest variant on the edge node; on the cloud node, behind a simulated round
# trip, lite0-fp32 and the most accurate of the larger ones (by their model cards, as
# the builder measured them: on the 1000-image sample lite1 and lite2 are within 0.1%).
LARGER = ("efficientnet-lite1-fp32", "efficientnet-lite1-int8", "efficientnet-lite2-fp32",
          "efficientnet-lite2-int8")


def ensure_models() -> Path:
    """Build the reference variants with the builder's CLI when they are missing."""
    if not all((MODELS / f"{name}.card.json").exists() for name in LARGER + ("efficientnet-lite0-int8",
                                                                              "efficientnet-lite0-fp32")):
        subprocess.run([sys.executable, "-m", "faasml", "models", "build", "--out", str(MODELS)],
                       cwd=REPO, check=True)
    return MODELS


def card_accuracy(name: str) -> float:
    card = json.loads((MODELS / f"{name}.card.json").read_text())
    return float(card["accuracy"]["value"])


def most_accurate() -> str:
    return max(LARGER, key=card_accuracy)


def staged_variants() -> list[tuple[str, str, float]]:
    """(variant, node class, latency-ms annotation)."""
    return [("efficientnet-lite0-int8", "edge", 12.0), ("efficientnet-lite0-fp32", "cloud", 15.0),
            (most_accurate(), "cloud", 45.0)]


def image_stage(folder: Path, selector_env: dict[str, str], cloud_rtt_ms: float, port: int) -> LocalPlatform:
    functions = {name: executor_function(name, MODELS / f"{name}.card.json", TASK, node, card_accuracy(name),
                                         latency, handler=REPO / "functions/executors")
                 for name, node, latency in staged_variants()}
    functions["selector"] = selector_function(selector_env, REPO / "functions/selector")
    return LocalPlatform.generated(folder, functions, two_nodes(cloud_rtt_ms), port=port)


def cat_image(scale: int = 1, format: str = "JPEG") -> bytes:
    """scikit-image's `chelsea` (a tabby cat); enlarged as PNG it takes the executor a
    few hundred ms to decode (PNG, unlike JPEG, cannot be decoded at reduced size)."""
    import skimage.data
    from PIL import Image

    image = Image.fromarray(skimage.data.chelsea())
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale))
    buffer = io.BytesIO()
    image.save(buffer, format)
    return buffer.getvalue()


def keyed_echo_stage(folder: Path, keys: bytes, presented: str) -> LocalPlatform:
    """A started stage: a trivial `echo` executor behind a selector with API keys on (the
    `selector-keys` secret holds `keys`); the stage presents `presented` to the selector."""
    from faasml.bench.selector import ECHO_HANDLER

    (folder / "echo").mkdir()
    (folder / "echo" / "handler.py").write_text(ECHO_HANDLER)
    selector = selector_function({"FAASML_API_KEYS_SECRET": "selector-keys"}, REPO / "functions/selector")
    selector["secrets"].append("selector-keys")
    functions = {"echo": executor_function("echo", folder / "none.card.json", "echo", "cloud", 0.5, 0.05,
                                           handler=folder / "echo"),
                 "selector": selector}
    return LocalPlatform.generated(folder, functions, two_nodes(), secrets={"selector-keys": keys},
                                   selector_key=presented).up()

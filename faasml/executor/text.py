"""Text input: request bodies to lists of strings, and token states to sentence vectors."""
from __future__ import annotations

import json

import numpy as np

from faasml import errors as codes
from faasml.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

TEXT_MEDIA_TYPES = ("", "text/plain", "application/x-www-form-urlencoded")
JSON_MEDIA_TYPES = ("application/json",)


def parse_texts(body: bytes, content_type: str, max_batch: int,
                max_chars: int) -> tuple[list[str], bool]:
    """Return (texts, single): `single` when the client sent one text rather than a list."""
    if not body:
        raise BadRequest("empty body: send UTF-8 text or a JSON list of strings", code=codes.EMPTY_BODY)
    if content_type not in TEXT_MEDIA_TYPES and content_type not in JSON_MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"content type {content_type!r} is not text; send text/plain (UTF-8) "
            "or application/json (a string or a list of strings)"
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"body is not valid UTF-8 (byte {exc.start})", code="invalid_utf8") from None
    if content_type in JSON_MEDIA_TYPES:
        texts, single = _parse_json(text)
    else:
        texts, single = [text], True
    if not texts:
        raise BadRequest("no text to embed: the list is empty", code=codes.EMPTY_INPUT)
    if len(texts) > max_batch:
        raise PayloadTooLarge(f"{len(texts)} texts in one request; the limit is {max_batch}",
                              code=codes.BATCH_TOO_LARGE)
    for i, item in enumerate(texts):
        if not item.strip():
            raise BadRequest(f"text {i} is empty", code=codes.EMPTY_INPUT)
        if len(item) > max_chars:
            raise PayloadTooLarge(f"text {i} has {len(item)} characters; the limit is {max_chars}",
                                  code=codes.TEXT_TOO_LONG)
    return texts, single


def _parse_json(text: str) -> tuple[list[str], bool]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                         code=codes.BAD_JSON) from None
    if isinstance(value, dict):  # the Hugging Face convention {"inputs": ...}
        if "inputs" not in value:
            raise BadRequest('a JSON object must have "inputs"', code=codes.BAD_JSON)
        value = value["inputs"]
    if isinstance(value, str):
        return [value], True
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value, False
    raise BadRequest("JSON body must be a string or a list of strings", code=codes.BAD_JSON)


def pool(token_states: np.ndarray, attention_mask: np.ndarray, method: str) -> np.ndarray:
    """(n, seq, dim) token states -> (n, dim) sentence vectors."""
    if token_states.ndim == 2:  # the export already pooled
        return token_states
    if method == "cls":
        return token_states[:, 0, :]
    mask = attention_mask[..., None].astype(token_states.dtype)
    summed = (token_states * mask).sum(axis=1)
    counts = np.clip(mask.sum(axis=1), 1e-9, None)
    return summed / counts


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.clip(norms, 1e-12, None)

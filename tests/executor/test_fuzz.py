"""Bad input at volume (hypothesis) against the executors on tiny real models: any body,
content type and parameter ends in a prediction or a JSON 4xx, never a 5xx or a crash.

`make test` runs a few dozen examples per property; `make fuzz` thousands (tests/fuzzing.py).
"""
from __future__ import annotations

import json

from hypothesis import given, strategies as st

from faasml.http import Headers, Request
from tests.executor.conftest import encode
from tests.executor.test_service import png_claiming

CONTENT_TYPES = st.one_of(st.sampled_from([
    "", "image/jpeg", "image/png", "image/webp", "image/gif", "image/svg+xml", "application/json",
    "application/json; charset=utf-8", "text/plain", "text/plain; charset=latin-1",
    "application/octet-stream", "multipart/form-data; boundary=x", "image/jpeg; q=0.1", "*/*"]),
    st.text(max_size=30))
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers()
                           | st.text(max_size=50), lambda inner: st.lists(inner, max_size=5)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=5), max_leaves=20)
VALID_IMAGES = [encode((200, 30, 30), "JPEG"), encode((30, 200, 30), "PNG"), encode((30, 30, 200), "WEBP")]


@st.composite
def bodies(draw) -> bytes:
    """Random bytes, a valid image cut or corrupted anywhere, an image bomb header, JSON
    of any shape (as the text variants take), or text."""
    kind = draw(st.sampled_from(["bytes", "truncated", "corrupted", "bomb", "json", "texts", "text"]))
    if kind == "bytes":
        return draw(st.binary(max_size=2048))
    if kind in ("truncated", "corrupted"):
        image = draw(st.sampled_from(VALID_IMAGES))
        cut = draw(st.integers(0, len(image)))
        if kind == "truncated":
            return image[:cut]
        noise = draw(st.binary(min_size=1, max_size=16))
        return image[:cut] + noise + image[cut + len(noise):]
    if kind == "bomb":
        return png_claiming(draw(st.integers(1, 2 ** 31 - 1)), draw(st.integers(1, 2 ** 31 - 1)))
    if kind == "json":
        return json.dumps(draw(JSON_VALUES)).encode()
    if kind == "texts":
        return json.dumps({"inputs": draw(st.lists(st.text(max_size=200), max_size=8))}).encode()
    return draw(st.text(max_size=3000)).encode("utf-8", "surrogatepass")


def _checked(response) -> None:
    if response.status == 200:
        return
    payload = json.loads(response.body)
    assert 400 <= response.status < 500, payload
    assert isinstance(payload["error"]["code"], str)


@given(body=bodies(), content_type=CONTENT_TYPES,
       query=st.dictionaries(st.sampled_from(["top_k", "k", "normalize", "x"]),
                             st.one_of(st.text(max_size=8), st.integers().map(str)), max_size=2))
def test_image_executor_answers_any_body_with_a_prediction_or_a_json_4xx(image_service, body, content_type, query):
    headers = Headers({"Content-Type": content_type} if content_type else {})
    _checked(image_service.handle(Request("POST", "/", query, headers, body)))


@given(body=bodies(), content_type=CONTENT_TYPES)
def test_text_executor_answers_any_body_with_a_prediction_or_a_json_4xx(text_service, body, content_type):
    headers = Headers({"Content-Type": content_type} if content_type else {})
    _checked(text_service.handle(Request("POST", "/", {}, headers, body)))

"""ExecutorService end to end on tiny real ONNX models: answers, readiness, bad input."""
from __future__ import annotations

import json
import struct
import zlib

import pytest

from faasml.executor.config import ExecutorConfig
from faasml.executor.service import ExecutorService
from faasml.http import Headers, Request
from tests.executor.conftest import encode
from tests.gpu import WITHOUT_GPU_ONLY, cuda_session_works


def post(service, body, content_type="image/jpeg", query=None, path="/"):
    headers = Headers({"Content-Type": content_type} if content_type else {})
    return service.handle(Request("POST", path, query or {}, headers, body))


def error_code(response):
    return json.loads(response.body)["error"]["code"]


def png_claiming(width: int, height: int) -> bytes:
    """A valid small PNG whose header is rewritten to claim width x height pixels."""
    data = bytearray(encode((255, 0, 0), "PNG", (4, 4)))
    ihdr = bytearray(data[12:29])  # b"IHDR" + 13 bytes of header fields
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(data)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize("colour,label", [((250, 10, 10), "red"), ((10, 250, 10), "green"),
                                          ((10, 10, 250), "blue")])
def test_classifies_each_format(image_service, fmt, colour, label):
    response = post(image_service, encode(colour, fmt), f"image/{fmt.lower()}")
    assert response.status == 200, response.body
    payload = json.loads(response.body)
    assert payload["task"] == "image-classification" and payload["variant"] == "tiny-colour"
    assert payload["predictions"][0]["label"] == label
    scores = [p["score"] for p in payload["predictions"]]
    assert scores == sorted(scores, reverse=True) and abs(sum(scores) - 1) < 1e-3
    assert float(response.headers["X-Faasml-Compute-Ms"]) > 0


def test_top_k_and_untyped_bodies(image_service):
    for content_type in ("", "text/plain", "application/x-www-form-urlencoded",
                         "application/octet-stream"):
        response = post(image_service, encode((10, 250, 10)), content_type, {"top_k": "2"})
        assert response.status == 200, (content_type, response.body)
        predictions = json.loads(response.body)["predictions"]
        assert len(predictions) == 2 and predictions[0]["label"] == "green"


def test_transparent_png_composited_on_white(image_service):
    response = post(image_service, encode((0, 0, 255, 0), "PNG", mode="RGBA"), "image/png")
    payload = json.loads(response.body)
    # fully transparent blue is white, not blue: scores are equal across classes
    assert response.status == 200
    assert max(p["score"] for p in payload["predictions"]) < 0.34


@pytest.mark.parametrize("body,content_type,status,code", [
    (b"", "image/jpeg", 400, "empty_body"),
    (b"this is not an image at all", "image/jpeg", 400, "invalid_image"),
    (b"GIF89a" + b"\0" * 40, "image/gif", 415, "unsupported_media_type"),
    (b"{}", "application/json", 415, "unsupported_media_type"),
])
def test_bad_image_input(image_service, body, content_type, status, code):
    response = post(image_service, body, content_type)
    assert (response.status, error_code(response)) == (status, code)
    assert response.headers["Content-Type"] == "application/json"


def test_gif_bytes_with_untyped_content_type_are_refused(image_service):
    response = post(image_service, encode((1, 2, 3), "GIF"), "application/octet-stream")
    assert (response.status, error_code(response)) == (415, "unsupported_image_format")


def test_truncated_image(image_service):
    whole = encode((250, 10, 10), "JPEG", (64, 64))
    response = post(image_service, whole[: len(whole) // 2])
    assert (response.status, error_code(response)) == (400, "invalid_image")
    png = encode((250, 10, 10), "PNG", (64, 64))
    response = post(image_service, png[:60], "image/png")
    assert (response.status, error_code(response)) == (400, "invalid_image")


def test_decompression_bomb_refused_before_decoding(image_service):
    response = post(image_service, png_claiming(100_000, 100_000), "image/png")
    assert (response.status, error_code(response)) == (413, "image_too_large")
    # just over this service's 1 MP limit, still a tiny body
    response = post(image_service, png_claiming(1001, 1000), "image/png")
    assert (response.status, error_code(response)) == (413, "image_too_large")


@pytest.mark.parametrize("top_k", ["0", "-1", "4", "1000000000000", "abc", "2.5", "1e3"])
def test_absurd_top_k(image_service, top_k):
    response = post(image_service, encode((250, 10, 10)), query={"top_k": top_k})
    assert (response.status, error_code(response)) == (400, "bad_parameter")


def test_top_k_from_header(image_service):
    headers = Headers({"Content-Type": "image/png", "X-Faasml-Top-K": "1"})
    response = image_service.handle(Request("POST", "/", {}, headers, encode((9, 9, 250), "PNG")))
    assert [p["label"] for p in json.loads(response.body)["predictions"]] == ["blue"]


def test_wrong_method(image_service):
    response = image_service.handle(Request("GET", "/", {}, Headers(), b""))
    assert (response.status, error_code(response)) == (405, "method_not_allowed")


def test_survives_after_every_kind_of_bad_request(image_service):
    for body in (b"", b"junk", png_claiming(99999, 99999), b"\xff\xd8\xff" * 10):
        post(image_service, body)
    assert post(image_service, encode((250, 10, 10))).status == 200


def test_readiness_and_health(tiny_models):
    service = ExecutorService(ExecutorConfig(model=str(tiny_models["image"])))
    ready = service.handle(Request("GET", "/ready", {}, Headers(), b""))
    assert (ready.status, error_code(ready)) == (503, "loading")
    assert ready.headers["Retry-After"] == "1"
    assert post(service, encode((250, 10, 10))).status == 503
    service.load()
    assert service.handle(Request("GET", "/ready", {}, Headers(), b"")).status == 200
    health = service.handle(Request("GET", "/health", {}, Headers(), b""))
    payload = json.loads(health.body)
    assert health.status == 200 and payload["status"] == "ready"
    assert payload["provider"] == "CPUExecutionProvider"
    assert payload["card"]["name"] == "tiny-colour" and payload["card"]["labels"] == ["red", "green", "blue"]
    assert payload["session_options"] == {"intra_op_threads": 0, "graph_optimization": "all",
                                          "cpu_mem_arena": True, "intra_op_spinning": True,
                                          "cudnn_conv_algo_search": "exhaustive"}


def test_session_options_from_the_environment(tiny_models):
    from faasml.settings import ConfigError, load

    env = {"FAASML_MODEL": str(tiny_models["image"]), "FAASML_GRAPH_OPTIMIZATION": "Basic",
           "FAASML_CPU_MEM_ARENA": "off", "FAASML_INTRA_OP_SPINNING": "off", "FAASML_INTRA_OP_THREADS": "2",
           "FAASML_CUDNN_CONV_ALGO_SEARCH": "heuristic"}
    service = ExecutorService(load(ExecutorConfig, env))
    service.load()
    assert post(service, encode((250, 10, 10))).status == 200
    options = json.loads(service.handle(Request("GET", "/health", {}, Headers(), b"")).body)["session_options"]
    assert options == {"intra_op_threads": 2, "graph_optimization": "basic", "cpu_mem_arena": False,
                       "intra_op_spinning": False, "cudnn_conv_algo_search": "heuristic"}
    with pytest.raises(ConfigError, match="FAASML_GRAPH_OPTIMIZATION"):
        load(ExecutorConfig, {**env, "FAASML_GRAPH_OPTIMIZATION": "max"})
    with pytest.raises(ConfigError, match="FAASML_CUDNN_CONV_ALGO_SEARCH"):
        load(ExecutorConfig, {**env, "FAASML_CUDNN_CONV_ALGO_SEARCH": "fastest"})


def test_background_loading_becomes_ready(tiny_models):
    service = ExecutorService(ExecutorConfig(model=str(tiny_models["image"]))).start_loading()
    assert service.wait_loaded(30)
    assert service.handle(Request("GET", "/ready", {}, Headers(), b"")).status == 200


@pytest.mark.skipif(cuda_session_works(), reason=WITHOUT_GPU_ONLY)
def test_cuda_variant_without_cuda_fails_readiness_clearly(tiny_models):
    service = ExecutorService(ExecutorConfig(model=str(tiny_models["image"]), provider="cuda"))
    service.load()
    ready = service.handle(Request("GET", "/ready", {}, Headers(), b""))
    assert (ready.status, error_code(ready)) == (503, "provider_unavailable")
    assert "CUDAExecutionProvider" in json.loads(ready.body)["error"]["message"]
    health = json.loads(service.handle(Request("GET", "/health", {}, Headers(), b"")).body)
    assert health["status"] == "failed" and health["requested_provider"] == "cuda"
    assert "provider" not in health  # never claims a provider it does not have


def test_session_options_recorded_in_the_card_and_overridden_per_function(tmp_path):
    from faasml.modelcard import load_card, save_card
    from faasml.settings import load
    from tests.executor.tiny_models import make_image_variant

    card = load_card(make_image_variant(tmp_path))
    assert card.session_options == {"graph_optimization": "all", "cpu_mem_arena": True, "intra_op_spinning": True,
                                    "cudnn_conv_algo_search": "exhaustive"}
    card.session_options = {"graph_optimization": "extended", "intra_op_spinning": False,
                            "cudnn_conv_algo_search": "heuristic"}
    save_card(card, tmp_path)

    def options(env):
        service = ExecutorService(load(ExecutorConfig, {"FAASML_MODEL": str(tmp_path / "tiny-colour.card.json"), **env}))
        service.load()
        return json.loads(service.handle(Request("GET", "/health", {}, Headers(), b"")).body)["session_options"]

    assert options({}) == {"intra_op_threads": 0, "graph_optimization": "extended", "cpu_mem_arena": True,
                           "intra_op_spinning": False, "cudnn_conv_algo_search": "heuristic"}
    assert options({"FAASML_GRAPH_OPTIMIZATION": "basic", "FAASML_INTRA_OP_SPINNING": "on",
                    "FAASML_CUDNN_CONV_ALGO_SEARCH": "exhaustive"}) == {
        "intra_op_threads": 0, "graph_optimization": "basic", "cpu_mem_arena": True, "intra_op_spinning": True,
        "cudnn_conv_algo_search": "exhaustive"}
    card.session_options = {"graph_optimisation": "all"}   # misspelt: refused, not ignored
    assert "graph_optimisation" in load_failure(card, tmp_path)
    card.session_options = {"cudnn_conv_algo_search": "fastest"}
    assert "cudnn_conv_algo_search" in load_failure(card, tmp_path)


def load_failure(card, folder) -> str:
    """Save `card` in `folder`, load it: readiness must be 503 load_failed; its message."""
    from faasml.modelcard import save_card

    save_card(card, folder)
    service = ExecutorService(ExecutorConfig(model=str(folder / f"{card.name}.card.json")))
    service.load()
    ready = service.handle(Request("GET", "/ready", {}, Headers(), b""))
    assert (ready.status, error_code(ready)) == (503, "load_failed")
    return json.loads(ready.body)["error"]["message"]


def test_resize_backend_from_the_card_or_the_environment(tiny_models):
    from faasml.settings import ConfigError, load

    def backend(env):
        service = ExecutorService(load(ExecutorConfig, {"FAASML_MODEL": str(tiny_models["image"]), **env}))
        service.load()
        assert json.loads(post(service, encode((250, 10, 10), size=(64, 48))).body)["predictions"][0]["label"] == "red"
        health = json.loads(service.handle(Request("GET", "/health", {}, Headers(), b"")).body)
        return health["card"]["image"]["resize_backend"]

    assert backend({}) == "opencv"   # the tiny card's own (the default a card gets)
    assert backend({"FAASML_IMAGE_RESIZE_BACKEND": "pillow"}) == "pillow"
    with pytest.raises(ConfigError, match="FAASML_IMAGE_RESIZE_BACKEND"):
        load(ExecutorConfig, {"FAASML_MODEL": str(tiny_models["image"]), "FAASML_IMAGE_RESIZE_BACKEND": "cv2"})


def test_a_filter_the_backend_lacks_fails_readiness(tmp_path):
    from faasml.modelcard import load_card
    from tests.executor.tiny_models import make_image_variant

    card = load_card(make_image_variant(tmp_path))
    card.image.interpolation = "hamming"   # Pillow has it, OpenCV does not
    assert "no OpenCV equivalent" in load_failure(card, tmp_path)


def test_missing_model_fails_readiness(tmp_path):
    service = ExecutorService(ExecutorConfig(model=str(tmp_path / "nope.card.json")))
    service.load()
    ready = service.handle(Request("GET", "/ready", {}, Headers(), b""))
    assert (ready.status, error_code(ready)) == (503, "model_not_found")


# sentence-embedding
def test_embeds_one_text_normalized(text_service):
    response = post(text_service, "a cat sits on the mat".encode(), "text/plain; charset=utf-8")
    assert response.status == 200, response.body
    payload = json.loads(response.body)
    vector = payload["embedding"]
    assert payload["dim"] == len(vector) == 8 and payload["truncated"] is False
    assert abs(sum(v * v for v in vector) - 1) < 1e-4


def test_embeds_a_json_list_and_reports_truncation(text_service):
    texts = ["short one", "word " * 50]
    response = post(text_service, json.dumps(texts).encode(), "application/json")
    payload = json.loads(response.body)
    assert response.status == 200 and len(payload["embeddings"]) == 2
    assert payload["truncated"] == [False, True]


def test_same_text_same_vector_batched_or_alone(text_service):
    alone = json.loads(post(text_service, b"hello world", "text/plain").body)["embedding"]
    batch = json.loads(post(text_service, json.dumps(["hello world", "a much longer sentence here"]).encode(),
                            "application/json").body)["embeddings"][0]
    assert max(abs(a - b) for a, b in zip(alone, batch)) < 1e-5


@pytest.mark.parametrize("body,content_type,status,code", [
    (b"", "text/plain", 400, "empty_body"),
    (b"\xff\xfe\xfa bad utf8", "text/plain", 400, "invalid_utf8"),
    (b"[1, 2]", "application/json", 400, "bad_json"),
    (b"{not json", "application/json", 400, "bad_json"),
    (b"[]", "application/json", 400, "empty_input"),
    (b'["ok", "   "]', "application/json", 400, "empty_input"),
    (json.dumps(["x"] * 5).encode(), "application/json", 413, "batch_too_large"),
    (b"y" * 1001, "text/plain", 413, "text_too_long"),
    (b"\x89PNG", "image/png", 415, "unsupported_media_type"),
])
def test_bad_text_input(text_service, body, content_type, status, code):
    response = post(text_service, body, content_type)
    assert (response.status, error_code(response)) == (status, code)

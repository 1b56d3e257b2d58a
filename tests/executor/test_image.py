import numpy as np
import pytest
from PIL import Image

from faasml.errors import FaasmlError
from faasml.executor import image as image_io
from faasml.modelcard import ImagePreprocessing
from tests.executor.conftest import encode


BACKENDS = ("opencv", "pillow")


@pytest.mark.parametrize("backend", BACKENDS)
def test_preprocess_shape_and_normalization(backend):
    spec = ImagePreprocessing(size=8, crop_pct=0.875, mean=[0.5, 0.4, 0.3], std=[0.2, 0.25, 0.5],
                              resize_backend=backend)
    tensor = image_io.preprocess(Image.new("RGB", (30, 12), (51, 102, 204)), spec)
    assert tensor.shape == (1, 3, 8, 8) and tensor.dtype == np.float32 and tensor.flags.c_contiguous
    expected = (np.array([51, 102, 204]) / 255 - np.array(spec.mean)) / np.array(spec.std)
    np.testing.assert_allclose(tensor[0, :, 4, 4], expected, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_planar_normalization_matches_the_per_pixel_formula(backend):
    # A photo-like image: every pixel different, so a channel or axis mix-up shows. At the
    # model's own size neither backend resamples: the pixels go through unchanged.
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, size=(24, 24, 3), dtype=np.uint8)
    spec = ImagePreprocessing(size=24, crop_pct=1.0, mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225],
                              resize_backend=backend)
    tensor = image_io.preprocess(Image.fromarray(pixels), spec)
    expected = ((pixels / 255.0 - np.array(spec.mean)) / np.array(spec.std)).transpose(2, 0, 1)
    np.testing.assert_allclose(tensor[0], expected, atol=1e-5)


def test_resize_short_side_matches_crop_pct():
    assert image_io.resize_short_side(ImagePreprocessing(size=224)) == 256
    assert image_io.resize_short_side(ImagePreprocessing(size=260)) == 297


@pytest.mark.parametrize("backend", BACKENDS)
def test_centre_crop_keeps_the_centre(backend):
    picture = Image.new("RGB", (40, 10), (0, 0, 0))
    picture.paste((255, 255, 255), (18, 0, 23, 10))  # a white band in the middle
    spec = ImagePreprocessing(size=10, crop_pct=1.0, mean=[0, 0, 0], std=[1, 1, 1], resize_backend=backend)
    tensor = image_io.preprocess(picture, spec)
    assert tensor[0, 0, 5, 5] > 0.9 and tensor[0, 0, 5, 0] < 0.1


def test_jpeg_draft_decodes_smaller_but_not_below_target():
    big = encode((120, 30, 200), "JPEG", (2000, 1500))
    picture = image_io.decode_image(big, 10_000_000, short_side=256)
    assert min(picture.size) >= 256 and picture.size[0] < 2000


def test_greyscale_and_16_bit_become_rgb():
    assert image_io.decode_image(encode(128, "PNG", mode="L"), 10_000).mode == "RGB"
    sixteen = Image.new("I;16", (4, 4), 4000)
    import io
    buf = io.BytesIO()
    sixteen.save(buf, format="PNG")
    rgb = image_io.decode_image(buf.getvalue(), 10_000)
    assert rgb.mode == "RGB" and rgb.getpixel((0, 0))[0] == 255


@pytest.mark.parametrize("content_type", ["image/tiff", "multipart/form-data", "audio/wav", "text/html"])
def test_media_types_refused(content_type):
    with pytest.raises(FaasmlError) as info:
        image_io.check_image_media_type(content_type)
    assert info.value.status == 415


def test_softmax_and_top_k():
    probabilities = image_io.softmax(np.array([1.0, 3.0, 2.0, 10.0], dtype=np.float32))
    assert np.isfinite(probabilities).all() and abs(probabilities.sum() - 1) < 1e-6
    assert list(image_io.top_k(probabilities, 3)) == [3, 1, 2]
    assert list(image_io.top_k(probabilities, 10)) == [3, 1, 2, 0]


def test_softmax_is_stable_on_huge_logits():
    probabilities = image_io.softmax(np.array([1.0, 1e4, -1e4], dtype=np.float32))
    assert np.isfinite(probabilities).all() and probabilities[1] == pytest.approx(1.0)

"""The OpenCV backend's decoder (`decode_pixels`): the same tensor as Pillow's decode, on
real photos and on every JPEG kind and draft scale, and the same refusals."""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faasml.errors import BadRequest, PayloadTooLarge
from faasml.executor import image as image_io
from faasml.models.card import ImagePreprocessing

from tests.executor.test_image_resize import photo_like

SPEC = ImagePreprocessing(size=224)   # the reference variants' (OpenCV backend, bicubic)
ROOT = Path(__file__).resolve().parents[2]
SAMPLE = Path(os.environ.get("FAASML_IMAGENET_SAMPLE", ROOT.parent / "shared/data/imagenet-sample"))


def pillow_tensor(data: bytes, spec: ImagePreprocessing = SPEC) -> np.ndarray:
    """What the OpenCV backend served before: Pillow decodes (draft mode), OpenCV resizes."""
    picture = image_io.decode_image(data, image_io.MAX_IMAGE_PIXELS, image_io.resize_short_side(spec))
    return image_io.preprocess(picture, spec)


def jpeg(picture: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", **options)
    return buffer.getvalue()


@pytest.mark.skipif(not SAMPLE.is_dir(), reason=f"no ImageNet sample at {SAMPLE} (set FAASML_IMAGENET_SAMPLE)")
def test_every_sample_photo_gives_the_tensor_pillow_decoding_gives():
    photos = sorted(SAMPLE.iterdir())
    decoded_by_opencv = 0
    for path in photos:
        data = path.read_bytes()
        assert np.array_equal(image_io.image_tensor(data, SPEC, image_io.MAX_IMAGE_PIXELS), pillow_tensor(data)), path
        decoded_by_opencv += image_io.decode_pixels(data, image_io.MAX_IMAGE_PIXELS, 256)[1]
    assert decoded_by_opencv == len(photos)   # colour and greyscale JPEGs alike


@pytest.mark.parametrize("width", [600, 1100, 2100, 4200])   # draft scale 1, 2, 4, 8
@pytest.mark.parametrize("kind", ["baseline", "progressive", "greyscale", "cmyk", "exif-rotated"])
def test_each_jpeg_kind_and_draft_scale_matches_pillow(width, kind):
    picture = photo_like(width, width * 2 // 3, seed=width)
    options = {"quality": 90}
    if kind == "progressive":
        options["progressive"] = True
    elif kind == "greyscale":
        picture = picture.convert("L")
    elif kind == "cmyk":
        picture = picture.convert("CMYK")
    elif kind == "exif-rotated":   # neither decoder turns the picture (Pillow's never did)
        exif = Image.Exif()
        exif[0x0112] = 6
        options["exif"] = exif.tobytes()
    data = jpeg(picture, **options)
    pixels, bgr = image_io.decode_pixels(data, image_io.MAX_IMAGE_PIXELS, image_io.resize_short_side(SPEC))
    assert bgr == (kind != "cmyk")   # CMYK stays with Pillow, whose conversion it always had
    assert min(pixels.shape[:2]) >= image_io.resize_short_side(SPEC) or width == 600
    assert np.array_equal(image_io.image_tensor(data, SPEC, image_io.MAX_IMAGE_PIXELS), pillow_tensor(data))


def test_other_formats_decode_with_pillow():
    picture = photo_like(320, 240).convert("RGBA")
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    data = buffer.getvalue()
    pixels, bgr = image_io.decode_pixels(data, image_io.MAX_IMAGE_PIXELS, 256)
    assert not bgr and pixels.shape == (240, 320, 3)
    assert np.array_equal(image_io.image_tensor(data, SPEC, image_io.MAX_IMAGE_PIXELS), pillow_tensor(data))


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
@pytest.mark.parametrize("progressive", [False, True])
def test_truncated_jpeg_is_refused_as_before(cut, progressive):
    data = jpeg(photo_like(640, 480), quality=90, progressive=progressive)
    with pytest.raises(BadRequest) as caught:
        image_io.image_tensor(data[: int(len(data) * cut)], SPEC, image_io.MAX_IMAGE_PIXELS)
    assert caught.value.code == "invalid_image"


def test_header_guards_come_before_any_decoding():
    data = jpeg(photo_like(640, 480))
    with pytest.raises(PayloadTooLarge):
        image_io.decode_pixels(data, 640 * 480 - 1, 256)
    with pytest.raises(BadRequest) as caught:
        image_io.decode_pixels(b"not an image", image_io.MAX_IMAGE_PIXELS, 256)
    assert caught.value.code == "invalid_image"

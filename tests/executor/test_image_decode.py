"""The OpenCV backend's decoder (`decode_pixels`): simplejpeg for clean colour and greyscale
JPEGs, the same tensor as Pillow's decode on real photos and on every JPEG kind and draft
scale, and Pillow's own verdict on anything simplejpeg finds fault with."""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import simplejpeg
from PIL import Image

from faasml.errors import BadRequest, PayloadTooLarge
from faasml.executor import image as image_io
from faasml.modelcard import ImagePreprocessing

from tests.executor.test_image_resize import photo_like

SPEC = ImagePreprocessing(size=224)   # the reference variants' (OpenCV backend, bicubic)
ROOT = Path(__file__).resolve().parents[2]
SAMPLE = Path(os.environ.get("FAASML_IMAGENET_SAMPLE", ROOT.parent / "shared/data/imagenet-sample"))


def pillow_tensor(data: bytes, spec: ImagePreprocessing = SPEC) -> np.ndarray:
    """What the OpenCV backend served before: Pillow decodes (draft mode), OpenCV resizes."""
    picture = image_io.decode_image(data, image_io.MAX_IMAGE_PIXELS, image_io.resize_short_side(spec))
    return image_io.preprocess(picture, spec)


@pytest.fixture
def decoded_by_simplejpeg(monkeypatch) -> list[tuple[int, ...]]:
    """The shapes simplejpeg returned during the test: which inputs took the fast path."""
    shapes, decode = [], simplejpeg.decode_jpeg

    def counting(*args, **kwargs):
        pixels = decode(*args, **kwargs)
        shapes.append(pixels.shape)
        return pixels
    monkeypatch.setattr(simplejpeg, "decode_jpeg", counting)
    return shapes


def jpeg(picture: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", **options)
    return buffer.getvalue()


@pytest.mark.skipif(not SAMPLE.is_dir(), reason=f"no ImageNet sample at {SAMPLE} (set FAASML_IMAGENET_SAMPLE)")
def test_every_sample_photo_gives_the_tensor_pillow_decoding_gives(decoded_by_simplejpeg):
    photos = sorted(SAMPLE.iterdir())
    for path in photos:
        data = path.read_bytes()
        assert np.array_equal(image_io.image_tensor(data, SPEC, image_io.MAX_IMAGE_PIXELS), pillow_tensor(data)), path
    assert len(decoded_by_simplejpeg) == len(photos)   # colour and greyscale JPEGs alike


@pytest.mark.parametrize("width", [600, 1100, 2100, 4200])   # draft scale 1, 2, 4, 8
@pytest.mark.parametrize("kind", ["baseline", "progressive", "greyscale", "cmyk", "exif-rotated"])
def test_each_jpeg_kind_and_draft_scale_matches_pillow(width, kind, decoded_by_simplejpeg):
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
    pixels = image_io.decode_pixels(data, image_io.MAX_IMAGE_PIXELS, image_io.resize_short_side(SPEC))
    # CMYK stays with Pillow, whose conversion it always had
    assert decoded_by_simplejpeg == ([] if kind == "cmyk" else [pixels.shape])
    assert min(pixels.shape[:2]) >= image_io.resize_short_side(SPEC) or width == 600
    assert np.array_equal(image_io.image_tensor(data, SPEC, image_io.MAX_IMAGE_PIXELS), pillow_tensor(data))


def test_other_formats_decode_with_pillow(decoded_by_simplejpeg):
    picture = photo_like(320, 240).convert("RGBA")
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    data = buffer.getvalue()
    pixels = image_io.decode_pixels(data, image_io.MAX_IMAGE_PIXELS, 256)
    assert not decoded_by_simplejpeg and pixels.shape == (240, 320, 3)
    assert np.array_equal(image_io.image_tensor(data, SPEC, image_io.MAX_IMAGE_PIXELS), pillow_tensor(data))


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
@pytest.mark.parametrize("progressive", [False, True])
def test_truncated_jpeg_is_refused_as_before(cut, progressive):
    data = jpeg(photo_like(640, 480), quality=90, progressive=progressive)
    with pytest.raises(BadRequest) as caught:
        image_io.image_tensor(data[: int(len(data) * cut)], SPEC, image_io.MAX_IMAGE_PIXELS)
    assert caught.value.code == "invalid_image"


def test_a_jpeg_with_recoverable_damage_gets_pillows_verdict():
    """libjpeg recovers from some damage with a warning: simplejpeg (strict) then raises and
    Pillow decides, decoding what it decoded before and refusing what it refused."""
    clean = jpeg(photo_like(451, 300), quality=90)
    rng = np.random.default_rng(3)
    verdicts = set()
    for _ in range(60):
        damaged = bytearray(clean)
        for position in rng.integers(len(clean) // 4, len(clean) - 2, size=4):
            damaged[position] = int(rng.integers(0, 256))
        data = bytes(damaged)
        try:
            expected = pillow_tensor(data)
        except BadRequest as refused:
            with pytest.raises(BadRequest) as caught:
                image_io.image_tensor(data, SPEC, image_io.MAX_IMAGE_PIXELS)
            assert caught.value.code == refused.code
            verdicts.add("refused")
            continue
        assert np.array_equal(image_io.image_tensor(data, SPEC, image_io.MAX_IMAGE_PIXELS), expected)
        verdicts.add("decoded")
    assert verdicts == {"refused", "decoded"}   # both kinds of damage were met


def test_header_guards_come_before_any_decoding():
    data = jpeg(photo_like(640, 480))
    with pytest.raises(PayloadTooLarge):
        image_io.decode_pixels(data, 640 * 480 - 1, 256)
    with pytest.raises(BadRequest) as caught:
        image_io.decode_pixels(b"not an image", image_io.MAX_IMAGE_PIXELS, 256)
    assert caught.value.code == "invalid_image"

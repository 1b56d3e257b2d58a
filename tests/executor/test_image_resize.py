"""The two resize backends: exact crop geometry, and OpenCV's pixels held close to Pillow's
(the filter the reference models were trained with), including on large downscales."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from faasml.executor import image as image_io
from faasml.modelcard import ImagePreprocessing

SPEC = ImagePreprocessing(size=224)   # the reference variants': 256 short side, 224 crop
IDENTITY = dict(mean=[0, 0, 0], std=[1 / 255] * 3)   # tensors in 0..255 pixel units


def photo_like(width: int, height: int, seed: int = 0) -> Image.Image:
    """Smooth shapes plus fine texture, like a photo: random noise upsampled, edges, grain."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (height // 16, width // 16, 3), dtype=np.uint8))
    pixels = np.asarray(coarse.resize((width, height), Image.Resampling.BICUBIC)).astype(np.int16)
    pixels[height // 3: height // 2, :, 0] = 250                 # a hard horizontal edge
    pixels += rng.integers(-12, 13, pixels.shape, dtype=np.int16)  # grain
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def test_crop_box_is_the_centre_of_the_resized_image():
    # 451x300 (the benchmark photo): short side 300 -> 256, so the width becomes 385 and
    # the 224 crop starts at (80, 16) in resized pixels: scaled back by 300/256.
    left, top, right, bottom = image_io.crop_box((451, 300), SPEC)
    assert (left, top) == pytest.approx((80 * 451 / 385, 16 * 300 / 256))
    assert (right - left, bottom - top) == pytest.approx((224 * 451 / 385, 224 * 300 / 256))
    assert image_io.pixel_box((left, top, right, bottom), (451, 300)) == (94, 19, 356, 281)


def test_pixel_box_stays_inside_the_image_and_is_never_empty():
    assert image_io.pixel_box((-0.4, 0.2, 10.6, 5.4), (10, 5)) == (0, 0, 10, 5)
    assert image_io.pixel_box((3.2, 2.0, 3.3, 2.1), (10, 5)) == (3, 2, 4, 3)


@pytest.mark.parametrize("size", [(451, 300), (300, 451), (640, 480), (500, 375), (260, 240)])
def test_opencv_stays_close_to_pillow_on_photo_like_images(size):
    picture = photo_like(*size)
    pillow = image_io.preprocess(picture, ImagePreprocessing(size=224, resize_backend="pillow", **IDENTITY))
    opencv = image_io.preprocess(picture, ImagePreprocessing(size=224, resize_backend="opencv", **IDENTITY))
    difference = np.abs(pillow - opencv)
    # Same content, same place: measured 1.7-2.9 mean, 7-11 at the 99th percentile (pixel
    # grain is where OpenCV's non-antialiased kernel differs most); the same crop moved by
    # two source pixels gives 14-16 and 47-53.
    assert difference.mean() < 5.0, difference.mean()
    assert np.percentile(difference, 99) < 20, np.percentile(difference, 99)


@pytest.mark.parametrize("size, flag", [((451, 300), "INTER_LINEAR"), ((200, 150), "INTER_CUBIC")])
def test_opencv_output_matches_cv2_on_the_rounded_crop(size, flag):
    # Bicubic cards: linear when shrinking (closest to Pillow's widened kernel), cubic when
    # enlarging (a small photo).
    import cv2

    picture = photo_like(*size, seed=4)
    spec = ImagePreprocessing(size=224, resize_backend="opencv", **IDENTITY)
    left, top, right, bottom = image_io.pixel_box(image_io.crop_box(picture.size, spec), picture.size)
    expected = cv2.resize(np.asarray(picture)[top:bottom, left:right], (224, 224),
                          interpolation=getattr(cv2, flag)).transpose(2, 0, 1)
    np.testing.assert_allclose(image_io.preprocess(picture, spec)[0], expected, atol=1e-3)


def test_large_downscales_are_antialiased_like_pillow():
    # Pixel noise over an image 8x larger than the crop (a big PNG: no JPEG draft decode).
    # Pillow's filter averages ~8x8 pixels into each output (std ~74/8); a bare cubic filter
    # would sample single pixels (aliasing: std near the input's 74). OpenCV's path
    # box-averages by a whole factor first, so it is as smooth as Pillow's.
    noise = np.random.default_rng(1).integers(0, 256, (2048, 2048, 3), dtype=np.uint8)
    picture = Image.fromarray(noise)
    for backend in ("pillow", "opencv"):
        tensor = image_io.preprocess(picture, ImagePreprocessing(size=224, resize_backend=backend, **IDENTITY))
        assert abs(tensor.mean() - 127.5) < 2 and tensor.std() < 20, (backend, tensor.mean(), tensor.std())


def test_opencv_backend_maps_the_card_filter():
    picture = photo_like(451, 300, seed=2)
    nearest = image_io.preprocess(picture, ImagePreprocessing(size=224, interpolation="nearest", **IDENTITY))
    cubic = image_io.preprocess(picture, ImagePreprocessing(size=224, **IDENTITY))
    assert not np.array_equal(nearest, cubic)
    assert set(np.unique(nearest)) <= set(np.unique(np.asarray(picture)))  # nearest invents no values


def test_filters_a_backend_lacks_are_refused_at_load():
    image_io.check_preprocessing(ImagePreprocessing(size=8, interpolation="hamming", resize_backend="pillow"))
    with pytest.raises(ValueError, match="no OpenCV equivalent"):
        image_io.check_preprocessing(ImagePreprocessing(size=8, interpolation="hamming"))
    with pytest.raises(ValueError, match="not a Pillow filter"):
        image_io.check_preprocessing(ImagePreprocessing(size=8, interpolation="sharpest", resize_backend="pillow"))


def test_card_names_its_backend_and_refuses_unknown_ones():
    assert ImagePreprocessing(size=8).resize_backend == "opencv"
    with pytest.raises(ValueError, match="resize_backend"):
        ImagePreprocessing(size=8, resize_backend="torchvision")

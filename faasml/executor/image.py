"""Image input: safe decoding and the exact preprocessing a model card describes.

Decoding refuses what would hurt the process before it costs memory: bodies that are
not images, formats we do not serve, and headers that claim huge dimensions.
"""
from __future__ import annotations

import functools
import io
import math
import warnings

import numpy as np
import simplejpeg
from PIL import Image, UnidentifiedImageError

from faasml.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from faasml.modelcard import ImagePreprocessing

SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP")
SUPPORTED_MEDIA_TYPES = ("image/jpeg", "image/jpg", "image/png", "image/webp")
# Content types that carry no claim about the bytes: faas-cli's default text/plain,
# curl --data-binary's form type, octet-stream. For these we look at the bytes.
UNTYPED_MEDIA_TYPES = ("", "application/octet-stream", "text/plain",
                       "application/x-www-form-urlencoded", "binary/octet-stream")

# The default limit on the pixels an image may claim (FAASML_MAX_IMAGE_PIXELS); checked
# first, with Pillow's global guard as a second line.
MAX_IMAGE_PIXELS = 50_000_000
Image.MAX_IMAGE_PIXELS = 200_000_000


def check_image_media_type(content_type: str) -> None:
    if content_type in SUPPORTED_MEDIA_TYPES or content_type in UNTYPED_MEDIA_TYPES:
        return
    raise UnsupportedMediaType(
        f"content type {content_type!r} is not an image this variant takes; "
        "send JPEG, PNG or WebP bytes (e.g. Content-Type: image/jpeg)"
    )


def decode_image(data: bytes, max_pixels: int, short_side: int | None = None) -> Image.Image:
    """Decode JPEG/PNG/WebP bytes to an RGB image.

    `short_side`, when given, lets JPEG decoding scale down in the DCT domain (Pillow's
    draft mode) to no less than that many pixels on the shorter side: a 12 MP photo then
    decodes several times faster and the later resize sees the same detail it needs.
    """
    image = _open_checked(data, max_pixels)
    if short_side and image.format == "JPEG":
        _draft(image, short_side)
    return _load_rgb(image)


def decode_pixels(data: bytes, max_pixels: int, short_side: int | None = None) -> np.ndarray:
    """Decode to HxWx3 uint8 RGB pixels, for the OpenCV resize backend.

    The same guards as `decode_image` (Pillow reads the header: format, size, pixel limit),
    then a colour or greyscale JPEG is decoded by libjpeg-turbo through simplejpeg, at the
    DCT scale Pillow's draft mode picks and strictly (any recoverable error raises): the
    same pixels as Pillow (tests/executor/test_image_decode.py holds every photo of the
    ImageNet sample to it) in less time (`faasml bench executor`'s prep, docs/executors.md),
    straight into a numpy array with no PIL image to crop and copy. Anything else, and any JPEG simplejpeg finds fault with,
    goes through Pillow, which decodes it or words the 400 exactly as before."""
    image = _open_checked(data, max_pixels)
    if image.format == "JPEG":
        scale = _draft(image, short_side) if short_side else 1
        if image.mode in ("RGB", "L") and scale in (1, 2, 4, 8):
            width, height = image.size   # after the draft: the original over `scale`, rounded up
            try:
                pixels = simplejpeg.decode_jpeg(data, "RGB", min_height=height, min_width=width,
                                                min_factor=scale, strict=True)
            except ValueError:
                pixels = None            # Pillow decides: it decodes some of these, refuses others
            if pixels is not None and pixels.shape == (height, width, 3):
                return pixels
    return np.asarray(_load_rgb(image))


def _open_checked(data: bytes, max_pixels: int) -> Image.Image:
    """The image's header, read and checked before any pixel is decoded."""
    if not data:
        raise BadRequest("empty body: send image bytes (JPEG, PNG or WebP)", code="empty_body")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise BadRequest("body is not a JPEG, PNG or WebP image", code="invalid_image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PayloadTooLarge("image dimensions are too large", code="image_too_large") from None
    except Exception as exc:  # Pillow raises many types on hostile headers
        raise BadRequest(f"cannot read image header: {exc}", code="invalid_image") from None
    if image.format not in SUPPORTED_FORMATS:
        raise UnsupportedMediaType(
            f"{image.format} images are not supported; send JPEG, PNG or WebP",
            code="unsupported_image_format",
        )
    width, height = image.size
    if width < 1 or height < 1:
        raise BadRequest("image has no pixels", code="invalid_image")
    if width * height > max_pixels:
        raise PayloadTooLarge(
            f"image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}",
            code="image_too_large",
        )
    return image


def _draft(image: Image.Image, short_side: int) -> int:
    """Set a JPEG's draft mode so its shorter side stays at least `short_side`; the DCT
    scale Pillow chose (1 when it chose none; its box is the original size over it)."""
    width, height = image.size
    scale = short_side / min(width, height)
    if scale >= 1:
        return 1
    drafted = image.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
    return round(width / drafted[1][2]) if drafted else 0


def _load_rgb(image: Image.Image) -> Image.Image:
    try:
        image.load()
        if image.mode != "RGB":
            image = _to_rgb(image)
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or corrupt data
        raise BadRequest(f"image data is truncated or corrupt: {exc}", code="invalid_image") from None
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        # Composite on white: transparent pixels are black in the raw RGB channels.
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode.startswith("I;16") or image.mode == "I":
        # 16-bit greyscale: scale to 8 bits instead of clipping.
        array = np.asarray(image, dtype=np.float32)
        peak = float(array.max()) or 1.0
        return Image.fromarray((array * (255.0 / peak)).astype(np.uint8)).convert("RGB")
    return image.convert("RGB")


def resize_short_side(spec: ImagePreprocessing) -> int:
    return int(math.floor(spec.size / spec.crop_pct + 0.5))


def crop_box(size: tuple[int, int], spec: ImagePreprocessing) -> tuple[float, float, float, float]:
    """The source region (left, top, right, bottom; fractional) that "resize the shorter
    side to size / crop_pct, then centre-crop size x size" keeps: resampling only this region
    gives the same pixels as resize-then-crop for about half the filter work."""
    target = resize_short_side(spec)
    width, height = size
    scale = target / min(width, height)
    new_w, new_h = max(spec.size, round(width * scale)), max(spec.size, round(height * scale))
    left, top = (new_w - spec.size) // 2, (new_h - spec.size) // 2
    return (left * width / new_w, top * height / new_h,
            (left + spec.size) * width / new_w, (top + spec.size) * height / new_h)


def pixel_box(box: tuple[float, float, float, float], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """`box` rounded to whole pixels inside the image, at least one pixel each way: what the
    OpenCV backend resamples (cv2.resize takes no fractional source region; the rounding
    moves the crop by at most half a source pixel)."""
    width, height = size
    left, top = min(round(box[0]), width - 1), min(round(box[1]), height - 1)
    return (max(0, left), max(0, top),
            max(left + 1, min(width, round(box[2]))), max(top + 1, min(height, round(box[3]))))


def preprocess(image: Image.Image, spec: ImagePreprocessing) -> np.ndarray:
    """RGB image -> (1, 3, size, size) float32: resize shorter side, centre crop, normalize,
    resampling with the card's `resize_backend`."""
    if spec.resize_backend != "pillow":
        return preprocess_pixels(np.asarray(image), spec)
    resample = getattr(Image.Resampling, spec.interpolation.upper())
    box = crop_box(image.size, spec)
    return _normalized(np.asarray(image.resize((spec.size, spec.size), resample, box=box)), spec)


def preprocess_pixels(pixels: np.ndarray, spec: ImagePreprocessing) -> np.ndarray:
    """`decode_pixels`' HxWx3 uint8 -> the tensor `preprocess` makes with the OpenCV backend;
    the crop is a view of the decoded pixels (nothing copied)."""
    height, width = pixels.shape[:2]
    left, top, right, bottom = pixel_box(crop_box((width, height), spec), (width, height))
    return _normalized(resize_opencv(pixels[top:bottom, left:right], spec), spec)


def image_tensor(data: bytes, spec: ImagePreprocessing, max_pixels: int) -> np.ndarray:
    """Image bytes -> the model's input tensor, decoded as the card's backend is best fed."""
    if spec.resize_backend == "opencv":
        return preprocess_pixels(decode_pixels(data, max_pixels, resize_short_side(spec)), spec)
    return preprocess(decode_image(data, max_pixels, resize_short_side(spec)), spec)


def _normalized(pixels: np.ndarray, spec: ImagePreprocessing) -> np.ndarray:
    tensor = np.empty((1, 3, spec.size, spec.size), dtype=np.float32)
    normalize_into(pixels, spec, tensor[0])
    return tensor


# PIL filter name -> the OpenCV interpolation flags (shrinking, enlarging) closest to it.
# Pillow widens its filters with the scale when it shrinks (antialiasing); OpenCV's fixed
# kernels do not, and its cubic one (a = -0.75) is sharper still than Pillow's (a = -0.5).
# So when shrinking (by under 2x, after the whole-factor pre-shrink) a smooth filter stands
# in: for bicubic, the reference models' filter, OpenCV's cubic lost 1.9 points of top-1 on
# an int8 variant where its linear filter stayed within noise (docs/executors.md).
# Enlarging needs no antialiasing: each filter's own kernel. "hamming" has no OpenCV twin.
OPENCV_INTERPOLATION = {
    "nearest": ("INTER_NEAREST", "INTER_NEAREST"),
    "bilinear": ("INTER_LINEAR", "INTER_LINEAR"),
    "bicubic": ("INTER_LINEAR", "INTER_CUBIC"),
    "lanczos": ("INTER_LINEAR", "INTER_LANCZOS4"),
    "box": ("INTER_AREA", "INTER_AREA"),
}


def check_preprocessing(spec: ImagePreprocessing) -> None:
    """Refuse at load (not on the first request) a card whose filter its backend lacks."""
    if spec.resize_backend == "pillow":
        if not hasattr(Image.Resampling, spec.interpolation.upper()):
            raise ValueError(f"image.interpolation {spec.interpolation!r} is not a Pillow filter")
    elif spec.interpolation not in OPENCV_INTERPOLATION:
        raise ValueError(f"image.interpolation {spec.interpolation!r} has no OpenCV equivalent "
                         f"({', '.join(OPENCV_INTERPOLATION)}); set image.resize_backend to pillow")


@functools.lru_cache(maxsize=1)
def _cv2():
    """OpenCV, imported on first use: it adds ~35 ms and ~35 MB to a process, which text
    variants, the selector and Pillow-backend cards need not pay (the executor's warm-up
    classifies an image, so an OpenCV variant pays it before it is ready, not on a request).
    One OpenCV thread: the resize is too small to gain from its pool (measured the same),
    and the request thread must not compete with ONNX Runtime's intra-op threads."""
    import cv2

    cv2.setNumThreads(1)
    return cv2


def resize_opencv(region: np.ndarray, spec: ImagePreprocessing) -> np.ndarray:
    """A crop's HxWx3 uint8 pixels resampled to size x size with cv2.resize.

    OpenCV's filters do not widen with the scale as Pillow's do (no antialiasing), so a
    region at least twice the output is first shrunk by a whole factor with a box average
    (INTER_AREA, exact and cheap at whole factors): the last step then scales by less than
    2x, as it does after a JPEG draft decode (DCT scaling) of a large photo, with the flag
    OPENCV_INTERPOLATION gives for shrinking or enlarging."""
    cv2 = _cv2()
    height, width = region.shape[:2]
    factor = min(width, height) // spec.size
    if factor >= 2:
        region = region[:height - height % factor, :width - width % factor]
        region = cv2.resize(region, (region.shape[1] // factor, region.shape[0] // factor),
                            interpolation=cv2.INTER_AREA)
    shrinking, enlarging = OPENCV_INTERPOLATION[spec.interpolation]
    flag = shrinking if min(region.shape[:2]) > spec.size else enlarging
    return cv2.resize(region, (spec.size, spec.size), interpolation=getattr(cv2, flag))


def normalize_into(pixels: np.ndarray, spec: ImagePreprocessing, out: np.ndarray) -> None:
    """HxWx3 uint8 pixels -> `out` (3xHxW float32), (x/255 - mean)/std per channel.

    Planar order first, then one multiply-add per channel: numpy's inner loop then runs
    over a whole row of one channel instead of a 3-element pixel, about 5x faster than
    normalizing in HWC order and transposing after. The planes are copied contiguous while
    still uint8 (a quarter of the float bytes): the multiply then reads them in unit
    stride, ~30 % faster than reading the strided view, and the uint8 -> float32 cast
    happens in that multiply (no float copy of the image)."""
    scale, offset = _normalization(tuple(spec.mean), tuple(spec.std))
    np.multiply(np.ascontiguousarray(pixels.transpose(2, 0, 1)), scale, out=out)
    np.subtract(out, offset, out=out)


@functools.lru_cache(maxsize=16)
def _normalization(mean: tuple[float, ...], std: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(x/255 - mean)/std folded into x*scale - offset, shaped to broadcast over 3xHxW."""
    std_array = np.asarray(std, dtype=np.float32)
    scale = (1.0 / (255.0 * std_array)).reshape(3, 1, 1)
    offset = (np.asarray(mean, dtype=np.float32) / std_array).reshape(3, 1, 1)
    return scale, offset


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def top_k(probabilities: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values, largest first."""
    k = min(k, probabilities.shape[-1])
    part = np.argpartition(-probabilities, k - 1)[:k]
    return part[np.argsort(-probabilities[part], kind="stable")]

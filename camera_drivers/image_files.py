"""Image files decoded whole or not at all: what a camera that replays files may give a part.

A decoder that meets a cut or damaged file usually fills what is missing with
grey and returns the image as if whole: libjpeg says "Premature end of JPEG
file" or "Corrupt JPEG data: premature end of data segment" on stderr and
OpenCV returns the picture anyway, so a defective part cut at half its height
with an end-of-image marker appended could be inspected and PASS. Here:

- **the size first**: the file's header says its width, height, channels and
  depth; a frame above the camera's limit (``cameras[].max_frame_mb``) is
  refused before any pixel buffer is allocated (a 10000 x 10000 PNG is a few
  hundred kilobytes on disk and 95 MiB decoded);
- **JPEG strictly**: libjpeg-turbo (simplejpeg) with every libjpeg warning an
  error: a premature end, corrupt entropy-coded data, a bad Huffman code;
- **PNG**: libpng (OpenCV) refuses a missing or damaged IDAT stream and chunk
  CRCs itself; the file must end with its IEND chunk;
- BMP and TIFF are decoded by OpenCV after the same size check.

Every refusal is :class:`~inspector.errors.ImageRefused` naming the file and
the reason; the camera service fails the part safe with it. Cost on the
reference machine: the strict JPEG decode takes what OpenCV's took (about
0.8 ms for a 640 x 480 grey part, the same pixels); the header costs tens of µs.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import cv2
import numpy as np
import simplejpeg
from PIL import Image

from inspector.errors import ImageRefused

JPEG_SUFFIXES = {".jpg", ".jpeg"}
PNG_END = b"IEND\xaeB`\x82"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}  # colour type -> channels OpenCV decodes (a palette to BGR)
JPEG_END = b"\xff\xd9"
PIL_BYTES_PER_SAMPLE = {"I;16": 2, "I;16B": 2, "I;16L": 2, "I": 4, "F": 4}


def frame_bytes_text(nbytes: int) -> str:
    return f"{nbytes / 1024 / 1024:.1f} MiB"


def truncation(path: Path, data: bytes) -> str:
    """Why a JPEG or PNG file is cut short at its end ('' if it ends as it must)."""
    suffix = path.suffix.lower()
    tail = data[-64:]
    if suffix == ".png":
        return "" if PNG_END in tail else "no IEND chunk at its end"
    if suffix in JPEG_SUFFIXES:
        return "" if JPEG_END in tail.rstrip(b"\x00")[-16:] else "no end-of-image marker"
    return ""


def decoded_shape(path: Path, data: bytes) -> tuple[int, int, int, int]:
    """(width, height, channels, bytes per sample) the decoder will allocate, read from the file's header only."""
    suffix = path.suffix.lower()
    if suffix in JPEG_SUFFIXES:
        try:
            height, width, colorspace, _ = simplejpeg.decode_jpeg_header(data)
        except ValueError as err:
            raise ImageRefused(f"image {path} has no readable JPEG header: {err}") from err
        return width, height, 1 if colorspace == "Gray" else 3, 1
    if data[:8] == PNG_SIGNATURE:
        if data[12:16] != b"IHDR" or len(data) < 29:
            raise ImageRefused(f"image {path} has no PNG header (IHDR chunk)")
        width, height, bits, colour_type = struct.unpack(">IIBB", data[16:26])
        return width, height, PNG_CHANNELS.get(colour_type, 4), 2 if bits == 16 else 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the limit is the camera's own
            with Image.open(path) as image:  # reads the header, decodes nothing
                width, height = image.size
                channels = 3 if image.mode == "P" else len(image.getbands())  # a palette decodes to colour
                bits = getattr(image, "tag_v2", {}).get(258, 8)  # TIFF BitsPerSample: one value, or one per channel
                bits = max(bits) if isinstance(bits, (tuple, list)) else int(bits)
                depth = max(PIL_BYTES_PER_SAMPLE.get(image.mode, 1), (bits + 7) // 8)
    except (OSError, Image.DecompressionBombError, SyntaxError, ValueError, TypeError) as err:
        raise ImageRefused(f"image {path} has no readable header: {err}") from err
    return width, height, channels, depth


def read_image(path: Path, max_bytes: int) -> np.ndarray:
    """The image's pixels as OpenCV would give them (BGR, grey, 16-bit where the file is), decoded whole or refused."""
    try:
        size = path.stat().st_size
    except OSError as err:
        raise ImageRefused(f"image {path} cannot be read: {err}") from err
    if size > 2 * max_bytes + (1 << 20):
        raise ImageRefused(f"image {path} is a {frame_bytes_text(size)} file, larger than any frame within the "
                           f"camera's limit of {frame_bytes_text(max_bytes)} (cameras[].max_frame_mb)")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ImageRefused(f"image {path} cannot be read: {err}") from err
    problem = truncation(path, data)
    if problem:
        raise ImageRefused(f"image {path} is truncated ({problem})")
    width, height, channels, depth = decoded_shape(path, data)
    nbytes = width * height * channels * depth
    if nbytes > max_bytes:
        raise ImageRefused(
            f"image {path} is {width}x{height} with {channels} channel(s) of {8 * depth} bits: "
            f"{frame_bytes_text(nbytes)} decoded, above the camera's limit of {frame_bytes_text(max_bytes)} "
            "(cameras[].max_frame_mb); refused before decoding"
        )
    if path.suffix.lower() in JPEG_SUFFIXES:
        return _strict_jpeg(path, data, channels)
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise ImageRefused(f"cannot decode image {path}: the decoder refused it (damaged or cut)")
    return pixels


def _strict_jpeg(path: Path, data: bytes, channels: int) -> np.ndarray:
    try:
        pixels = simplejpeg.decode_jpeg(data, colorspace="GRAY" if channels == 1 else "BGR", strict=True)
    except ValueError as err:  # every libjpeg warning, with strict=True
        raise ImageRefused(f"image {path} is damaged: the JPEG decoder says {str(err)!r}") from err
    return pixels[:, :, 0] if channels == 1 else pixels

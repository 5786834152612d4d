"""Images checked structurally from their bytes: signature, header, dimensions and end
marker for JPEG and PNG (Pillow for other formats). Finds truncated and foreign files
without decoding every pixel."""

from __future__ import annotations

import io
import struct


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i, n = 2, len(data)
    while i + 9 < n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        i += 2 + length
    return None


def image_header(data: bytes, suffix: str) -> tuple[int | None, int | None, str | None]:
    """(width, height, problem) from an image's bytes."""
    if data[:3] == b"\xff\xd8\xff":
        size = _jpeg_size(data)
        if size is None:
            return None, None, "JPEG without a frame header"
        if not data.endswith(b"\xff\xd9") and not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
            return size[0], size[1], "truncated JPEG (no end-of-image marker)"
        return size[0], size[1], None
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        if len(data) < 24 or data[12:16] != b"IHDR":
            return None, None, "PNG without IHDR header"
        w, h = struct.unpack(">II", data[16:24])
        if not data.endswith(b"IEND\xaeB`\x82"):
            return w, h, "truncated PNG (no IEND chunk)"
        return w, h, None
    try:  # other formats: let Pillow identify and verify them
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
            im.verify()
        return w, h, None
    except Exception as exc:  # any failure means the file is not a usable image
        return None, None, f"unreadable image ({type(exc).__name__})"


def mean_luma(data: bytes) -> int:
    """Mean luma (0..255) of an image, decoded at reduced scale where the format allows
    (JPEG's DCT scaling: an eighth of the pixels, the mean barely moves); 0 when the image
    cannot be decoded (it is reported as corrupt)."""
    from PIL import Image, ImageStat

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format == "JPEG":
                img.draft("L", (max(1, img.width // 8), max(1, img.height // 8)))
            return int(round(ImageStat.Stat(img.convert("L")).mean[0]))
    except Exception:  # noqa: BLE001 - any decoder failure is "undecodable"
        return 0

"""Metadata carried from an input photo to its output: ICC profile and EXIF.

EXIF is kept as the raw TIFF-structured block (no "Exif\\0\\0" header) and edited in place:
only the orientation value in IFD0 is rewritten, so maker notes and every offset inside the
block stay valid (re-serialising EXIF with a library can silently drop or break them).
Also: the small byte-level writers for the two cases Pillow cannot write (16-bit colour PNG
and TIFF are encoded by OpenCV, which writes no metadata).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

EXIF_HEADER = b"Exif\x00\x00"
ORIENTATION_TAG = 0x0112
ICC_TIFF_TAG = 34675
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class ImageMetadata:
    """What is written back beside the pixels (unless --strip-metadata)."""

    icc_profile: bytes | None = None
    exif: bytes | None = None  # TIFF-structured EXIF block, orientation already reset to 1
    orientation: int = 1  # the source's EXIF orientation (1-8); already applied to the pixels

    def without_icc(self) -> "ImageMetadata":
        return ImageMetadata(None, self.exif, self.orientation)


def strip_exif_header(exif: bytes) -> bytes:
    """JPEG and PNG blocks read through Pillow start with "Exif\\0\\0"; WebP's do not."""
    return exif[len(EXIF_HEADER) :] if exif.startswith(EXIF_HEADER) else exif


def _byte_order(block: bytes) -> str | None:
    if len(block) < 8:
        return None
    if block[:4] == b"II*\x00":
        return "<"
    if block[:4] == b"MM\x00*":
        return ">"
    return None


def reset_exif_orientation(exif: bytes) -> bytes | None:
    """The EXIF block with the IFD0 orientation value set to 1 (upright); None if the block is
    not a parseable TIFF structure. A block without an orientation tag is returned as is."""
    order = _byte_order(exif)
    if order is None:
        return None
    (ifd,) = struct.unpack_from(order + "I", exif, 4)
    if ifd + 2 > len(exif):
        return None
    (count,) = struct.unpack_from(order + "H", exif, ifd)
    if ifd + 2 + 12 * count > len(exif):
        return None
    patched = bytearray(exif)
    for index in range(count):
        entry = ifd + 2 + 12 * index
        tag, kind, n = struct.unpack_from(order + "HHI", exif, entry)
        if tag == ORIENTATION_TAG and kind == 3 and n == 1:  # SHORT, stored inline
            struct.pack_into(order + "H", patched, entry + 8, 1)
    return bytes(patched)


def icc_colour_space(icc: bytes) -> str:
    """The data colour space of an ICC profile: "RGB", "GRAY", "CMYK"... ("" if unreadable)."""
    return icc[16:20].decode("ascii", "replace").strip() if len(icc) >= 20 else ""


def png_chunks(data: bytes) -> dict[bytes, bytes]:
    """The first chunk of each type in a PNG file (walks the chunk headers; no decoding)."""
    chunks: dict[bytes, bytes] = {}
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        chunks.setdefault(kind, data[pos + 8 : pos + 8 + length])
        if kind == b"IEND":
            break
        pos += 12 + length
    return chunks


def png_reset_orientation(data: bytes) -> bytes:
    """The PNG file with the orientation in its eXIf chunk (if any) set to 1 (CRC updated)."""
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"eXIf":
            payload = data[pos + 8 : pos + 8 + length]
            reset = reset_exif_orientation(payload)
            if reset is None or reset == payload:
                return data
            return data[:pos] + _png_chunk(b"eXIf", reset) + data[pos + 12 + length :]
        if kind == b"IEND":
            break
        pos += 12 + length
    return data


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_add_metadata(png: bytes, icc: bytes | None, exif: bytes | None) -> bytes:
    """Insert iCCP and eXIf chunks right after IHDR (both must precede the image data)."""
    if not png.startswith(PNG_SIGNATURE) or png[12:16] != b"IHDR":
        raise ValueError("not a PNG stream")
    extra = b""
    if icc:
        extra += _png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc))
    if exif:
        extra += _png_chunk(b"eXIf", exif)
    end_of_ihdr = 8 + 12 + 13
    return png[:end_of_ihdr] + extra + png[end_of_ihdr:]


def tiff_add_tags(tiff: bytes, tags: list[tuple[int, int, int, bytes]]) -> bytes:
    """Add (or replace) tags in the first IFD of a classic TIFF file.

    tags: (tag, TIFF type, count, value bytes already in the file's byte order). Values longer
    than 4 bytes and a copy of IFD0 with the new entries are appended at the end and the header
    points to the copy, so every other offset in the file stays valid.
    """
    order = _byte_order(tiff)
    if order is None:
        raise ValueError("not a classic TIFF stream")
    (ifd,) = struct.unpack_from(order + "I", tiff, 4)
    (count,) = struct.unpack_from(order + "H", tiff, ifd)
    (next_ifd,) = struct.unpack_from(order + "I", tiff, ifd + 2 + 12 * count)
    new_tags = {tag for tag, _, _, _ in tags}
    entries = {}
    for index in range(count):
        entry = tiff[ifd + 2 + 12 * index : ifd + 14 + 12 * index]
        (tag,) = struct.unpack_from(order + "H", entry)
        if tag not in new_tags:
            entries[tag] = entry
    out = bytearray(tiff)
    for tag, kind, n, value in tags:
        if len(value) <= 4:
            field_bytes = value.ljust(4, b"\x00")
        else:
            if len(out) % 2:
                out += b"\x00"  # TIFF offsets are word aligned
            field_bytes = struct.pack(order + "I", len(out))
            out += value
        entries[tag] = struct.pack(order + "HHI", tag, kind, n) + field_bytes
    if len(out) % 2:
        out += b"\x00"
    new_ifd = len(out)
    ordered = [entries[tag] for tag in sorted(entries)]  # TIFF wants ascending tag order
    out += struct.pack(order + "H", len(ordered)) + b"".join(ordered) + struct.pack(order + "I", next_ifd)
    struct.pack_into(order + "I", out, 4, new_ifd)
    return bytes(out)


def tiff_byte_order(tiff: bytes) -> str:
    """"<" or ">" for struct, from a TIFF header."""
    order = _byte_order(tiff)
    if order is None:
        raise ValueError("not a classic TIFF stream")
    return order

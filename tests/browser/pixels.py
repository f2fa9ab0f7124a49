"""Pixels of the screenshots the browser tests take: a PNG decoder with the stdlib only (8-bit RGB or RGBA, no
interlace: what Chromium writes), so a colour can be counted without an imaging library."""

from __future__ import annotations

import struct
import zlib


def decode_png(data: bytes) -> tuple[int, int, list[bytearray]]:
    """Width, height and RGB(A) rows of a PNG (8-bit RGB/RGBA, no interlace: what Chromium writes)."""
    pos, chunks = 8, b""
    width = height = color = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, _, color = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            chunks += body
        pos += 12 + length
    n = 4 if color == 6 else 3
    raw = zlib.decompress(chunks)
    stride = width * n
    rows: list[bytearray] = []
    prev = bytearray(stride)
    i = 0
    for _ in range(height):
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - n] if x >= n else 0
            b, c = prev[x], (prev[x - n] if x >= n else 0)
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line if n == 3 else bytearray(v for k, v in enumerate(line) if k % 4 != 3))
        prev = line
    return width, height, rows

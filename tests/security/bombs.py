"""Files whose headers promise little and deliver much, built for the tests and benchmarks/load.py:
PNGs that decode to hundreds of megabytes and zips whose entries overlap."""

from __future__ import annotations

import struct
import zlib


def _kernel(nbytes: int, every: int = 100, seed: int = 7) -> bytes:
    """Bytes that deflate a little under 100:1 (the ratio a single entry is checked against): zeros with
    a random byte every ``every`` bytes."""
    import random

    out = bytearray(nbytes)
    noise = random.Random(seed).randbytes(nbytes // every + 1)
    out[::every] = noise[: len(out[::every])]
    return bytes(out)


def _deflate_raw(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def overlap_zip(path, entries: int = 220, kernel_bytes: int = 8 * 1024 * 1024):
    """A zip whose entries overlap (D. Fifield's construction): entry i's compressed data is a stored
    deflate block quoting entry i+1's local header, then entry i+1's data, down to one shared kernel.
    Every entry unpacks to about ``kernel_bytes`` and no entry passes 100:1 on its own; the central
    directory's compressed sizes add up to far more than the file, so a ratio over their sum passes too.
    Returns (path, bytes the entries would unpack to in all)."""
    kernel = _kernel(kernel_bytes)
    kernel_z = _deflate_raw(kernel)  # a final (BFINAL) block: the stream ends with the kernel
    names = [f"c{i % 2}/{i:04d}.png".encode() for i in range(entries)]
    # build from the last entry backwards: data[i] = stored block quoting header[i+1] + data[i+1]
    datas, contents, headers = [None] * entries, [None] * entries, [None] * entries
    data, content = kernel_z, kernel
    for i in range(entries - 1, -1, -1):
        crc = zlib.crc32(content) & 0xFFFFFFFF
        header = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data), len(content),
                             len(names[i]), 0) + names[i]
        datas[i], contents[i], headers[i] = data, content, header
        if i:  # the previous entry quotes this header in a stored (non-final) block, then goes on with this data
            data = struct.pack("<BHH", 0, len(header), len(header) ^ 0xFFFF) + header + data
            content = header + content
    body = headers[0] + datas[0]  # every later header and its data sit inside entry 0's data
    offsets, at = [0], len(headers[0])
    for i in range(1, entries):
        at += 5  # the stored block's own header
        offsets.append(at)
        at += len(headers[i])
    central = b""
    for i in range(entries):
        crc = zlib.crc32(contents[i]) & 0xFFFFFFFF
        central += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(datas[i]),
                               len(contents[i]), len(names[i]), 0, 0, 0, 0, 0, offsets[i]) + names[i]
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, entries, entries, len(central), len(body), 0)
    with open(path, "wb") as f:
        f.write(body + central + end)
    return path, sum(len(c) for c in contents)


def png_bomb(path=None, width: int = 8000, height: int = 8000, depth: int = 16, color_type: int = 6) -> bytes:
    """A PNG of one colour: small on disk, ``width × height × bands × depth/8`` bytes once decoded
    (the default, 16-bit RGBA 8000 × 8000, is about 0.7 MB and 512 MB). Written to ``path`` if given."""
    bands = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    pixel = bytes(range(0x12, 0x12 + bands * depth // 8))
    row = b"\x00" + pixel * width
    c = zlib.compressobj(9)
    data = b"".join(c.compress(row) for _ in range(height)) + c.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    if path is not None:
        with open(path, "wb") as f:
            f.write(png)
    return png

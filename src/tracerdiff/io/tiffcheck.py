"""Walk a TIFF's IFD chain before tifffile parses it, refusing declared sizes the file cannot hold.

tifffile sizes some arrays from header fields (strip counts derived from image height and
rows per strip, tag counts) before it reads data, so a corrupt header in a small file could
make it allocate gigabytes. This walk reads only the IFD entries (TIFF 6.0 and BigTIFF
layouts) and checks every declared size against the file size.
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path

from tracerdiff.errors import FileFormatError
from tracerdiff.io._base import MAX_EAGER_BYTES

_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}
_UNPACK = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i", 13: "I", 16: "Q", 17: "q", 18: "Q"}
_MAX_PAGES = 1_000_000


def check_tiff_structure(path: str | Path) -> int:
    """Validate the IFD chain of a TIFF; return the number of pages.

    Raises
    ------
    FileFormatError
        Bad header, cyclic or out-of-range IFD offsets, tag data past the end of the file,
        or image dimensions the file cannot hold.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(16)
        if len(head) < 8 or head[:2] not in (b"II", b"MM"):
            raise FileFormatError("not a TIFF file (bad byte-order mark)", source=path)
        bo = "<" if head[:2] == b"II" else ">"
        magic = struct.unpack(bo + "H", head[2:4])[0]
        if magic == 42:
            big, offset = False, struct.unpack(bo + "I", head[4:8])[0]
        elif magic == 43 and len(head) >= 16:
            big, offset = True, struct.unpack(bo + "Q", head[8:16])[0]
        else:
            raise FileFormatError(f"not a TIFF file (magic {magic})", source=path)
        count_fmt, entry_size, inline = (bo + "Q", 20, 8) if big else (bo + "H", 12, 4)
        seen: set[int] = set()
        pages = 0
        while offset:
            if offset in seen or offset + (8 if big else 2) > size:
                raise FileFormatError(f"IFD offset {offset} is out of range or cyclic", source=path)
            seen.add(offset)
            pages += 1
            if pages > _MAX_PAGES:
                raise FileFormatError("too many TIFF pages", source=path)
            fh.seek(offset)
            n = struct.unpack(count_fmt, fh.read(struct.calcsize(count_fmt)))[0]
            table = fh.read(n * entry_size + (8 if big else 4))
            if len(table) < n * entry_size + (8 if big else 4):
                raise FileFormatError(f"IFD at byte {offset} is truncated", source=path)
            tags = {}
            for i in range(n):
                entry = table[i * entry_size:(i + 1) * entry_size]
                if big:
                    tag, typ, count = struct.unpack(bo + "HHQ", entry[:12])
                    value = entry[12:20]
                else:
                    tag, typ, count = struct.unpack(bo + "HHI", entry[:8])
                    value = entry[8:12]
                nbytes = count * _TYPE_SIZE.get(typ, 1)
                if nbytes > size:
                    raise FileFormatError(f"tag {tag} declares {nbytes} bytes in a {size}-byte file", source=path)
                if nbytes > inline:
                    where = struct.unpack(bo + ("Q" if big else "I"), value)[0]
                    if where + nbytes > size:
                        raise FileFormatError(f"tag {tag} data run past the end of the file", source=path)
                elif typ in _UNPACK and count >= 1:
                    fmt = bo + _UNPACK[typ]
                    tags[tag] = struct.unpack(fmt, value[:struct.calcsize(fmt)])[0]
                tags.setdefault(("count", tag), count)
            _check_page(tags, size, path)
            offset = struct.unpack(bo + ("Q" if big else "I"), table[n * entry_size:])[0]
    return pages


def _check_page(tags: dict, size: int, path) -> None:
    width, height = tags.get(256, 0), tags.get(257, 0)
    if not width or not height:
        return  # tifffile reports pages without dimensions itself
    spp = tags.get(277, 1) or 1
    bits = tags.get(258, 8) or 8
    compression = tags.get(259, 1)
    nbytes = math.ceil(width * height * spp * bits / 8)
    if compression == 1 and nbytes > size:
        raise FileFormatError(f"page of {width}x{height} pixels needs {nbytes} bytes; the file has {size}",
                              source=path)
    if nbytes > MAX_EAGER_BYTES:
        raise FileFormatError(f"page of {width}x{height} pixels exceeds the read limit", source=path)
    if 322 in tags or 323 in tags:
        tw, tl = tags.get(322, 0) or 1, tags.get(323, 0) or 1
        chunks = math.ceil(width / tw) * math.ceil(height / tl)
    else:
        rows = tags.get(278, height) or height
        chunks = math.ceil(height / rows)
    if chunks * spp > size:  # every strip/tile needs its own offset entry in the file
        raise FileFormatError(f"page declares {chunks} strips/tiles, more than the file can index", source=path)

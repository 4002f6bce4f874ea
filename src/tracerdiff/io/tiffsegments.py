"""Lazy reading of a compressed (or scattered) 2D TIFF page, segment by segment.

A TIFF stores its pixels in strips (runs of whole rows) or tiles, each compressed on its own
(zlib/deflate, LZW, PackBits, ...). An uncompressed contiguous page is read by file offset
(:class:`tracerdiff.io._base.FileRegionSource`); any other page is read here: a slice decodes
only the strips or tiles it overlaps, so a large compressed mosaic analysed tile by tile never
needs all of its pixels in memory. Decoding is tifffile's own (``TiffPage.decode``).
"""

from __future__ import annotations

import numpy as np

from tracerdiff.errors import FileFormatError


class TiffSegmentSource:
    """Array-like view of one 2D TIFF page, decoding the overlapped segments of each slice.

    It pickles as its path and layout (a dask task reads its own segments). Segments the file
    does not store (byte count 0) read as zeros, as tifffile reads them.
    """

    def __init__(self, path, *, page: int, shape, dtype, segment_shape, segments_per_axis):
        self.path, self.page = str(path), int(page)
        self.shape = tuple(int(n) for n in shape)
        self.dtype, self.ndim = np.dtype(dtype).newbyteorder("="), 2
        self.segment_shape = tuple(int(n) for n in segment_shape)
        self.segments_per_axis = tuple(int(n) for n in segments_per_axis)

    def __getitem__(self, key):
        import tifffile

        from tracerdiff.io._base import wrap_errors

        key = key if isinstance(key, tuple) else (key,)
        if len(key) > 2 or not all(isinstance(k, slice) for k in key):
            raise TypeError("TiffSegmentSource takes slices only")
        key = key + (slice(None),) * (2 - len(key))
        (y0, y1, sy), (x0, x1, sx) = (k.indices(n) for k, n in zip(key, self.shape))
        if sy < 1 or sx < 1:
            raise TypeError("TiffSegmentSource takes forward slices only")
        out = np.zeros((max(y1 - y0, 0), max(x1 - x0, 0)), self.dtype)
        if out.size == 0:
            return out[::sy, ::sx]
        (sh, sw), (_, nx) = self.segment_shape, self.segments_per_axis
        with wrap_errors(self.path, "TIFF"), tifffile.TiffFile(self.path) as tf:  # runs at compute time
            page = tf.pages[self.page]
            fh = tf.filehandle
            for iy in range(y0 // sh, (y1 - 1) // sh + 1):
                for ix in range(x0 // sw, (x1 - 1) // sw + 1):
                    index = iy * nx + ix
                    count = int(page.databytecounts[index])
                    if count == 0:
                        continue
                    fh.seek(int(page.dataoffsets[index]))
                    data = fh.read(count)
                    if len(data) != count:
                        raise FileFormatError(f"TIFF segment {index} is truncated ({len(data)} of {count} bytes)",
                                              source=self.path)
                    segment, at, _ = page.decode(data, index, jpegtables=page.jpegtables)
                    if segment is None:
                        continue
                    segment = np.asarray(segment).reshape(segment.shape[-3], segment.shape[-2])
                    ty, tx = int(at[-3]), int(at[-2])  # the segment's first row and column in the page
                    # The overlap of the segment (tiles at the edges are padded) with the slice.
                    a0, a1 = max(ty, y0), min(ty + segment.shape[0], y1, self.shape[0])
                    b0, b1 = max(tx, x0), min(tx + segment.shape[1], x1, self.shape[1])
                    if a1 > a0 and b1 > b0:
                        out[a0 - y0:a1 - y0, b0 - x0:b1 - x0] = segment[a0 - ty:a1 - ty, b0 - tx:b1 - tx]
        return out[::sy, ::sx]


def lazy_tiff_page(path, page, *, block_px: int, name: str):
    """Dask array over the tifffile page ``page`` of ``path`` (2D, one sample per pixel), chunked
    along its segments into blocks of about ``block_px`` pixels a side; None when the page's
    layout is not one this reader knows (the caller then reads it whole)."""
    import dask.array as da

    shaped = tuple(int(n) for n in page.shaped)  # (separate samples, depth, rows, columns, samples)
    chunks, chunked = tuple(int(n) for n in page.chunks), tuple(int(n) for n in page.chunked)
    if shaped[0] != 1 or shaped[1] != 1 or shaped[4] != 1 or len(chunks) != 2 or len(chunked) != 2:
        return None
    if len(page.dataoffsets) != chunked[0] * chunked[1]:
        return None
    shape = shaped[2:4]
    src = TiffSegmentSource(path, page=page.index, shape=shape, dtype=page.dtype, segment_shape=chunks,
                            segments_per_axis=chunked)
    # Whole segments per block: a block never decodes a segment that another block decodes too.
    block = tuple(min(n, c * max(1, block_px // c)) for n, c in zip(shape, chunks))
    return da.from_array(src, chunks=block, name=name, inline_array=True, meta=np.empty((0, 0), src.dtype))

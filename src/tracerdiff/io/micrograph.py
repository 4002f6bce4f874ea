"""Optical micrographs (etched surfaces) as one grey image, by one documented rule.

Colour to grey
--------------
An RGB(A) micrograph becomes grey by the ITU-R BT.601 luma weights applied to the stored
values::

    grey = 0.299 R + 0.587 G + 0.114 B

No gamma linearisation and no rescaling: a uint8 file gives grey in 0-255, a uint16 file
in 0-65535, so PNG, JPEG, BMP and TIFF exports of one image give one grey image (the
weights sum to 1, so a grey image saved as RGB keeps its values). Alpha is dropped (it is
not brightness); a grey+alpha image keeps its grey channel; a multi-frame grey TIFF is
averaged over its frames. Segmentation looks for dark grooves, for which the luma of the
etched surface is the natural brightness: it follows what the microscope's eye (and the
camera's green-heavy Bayer filter) sees, rather than one channel of it.

Every command reads micrographs through :func:`tracerdiff.io.read_micrograph` (``tracerdiff run`` via
:func:`tracerdiff.study.imaging.read_optical`, ``tracerdiff boundaries --optical``), so
both segment the same image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tracerdiff.errors import FileFormatError

#: ITU-R BT.601 luma weights of R, G and B.
LUMA_BT601 = (0.299, 0.587, 0.114)

#: Ordinary photo formats, read with Pillow; everything else goes through
#: :func:`tracerdiff.io.read` (TIFF, .npy, HDF5, text matrices, vendor files).
PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def to_grey(arr: np.ndarray, *, source: str | Path | None = None) -> np.ndarray:
    """Grey float image of a (y, x), (y, x, 2|3|4) or (frames, y, x) array by the module's rule."""
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        rgb = arr[..., :3].astype(float)
        return rgb @ np.asarray(LUMA_BT601)
    if arr.ndim == 3 and arr.shape[-1] == 2:  # grey + alpha
        return arr[..., 0].astype(float)
    if arr.ndim == 3:  # frames of a grey stack
        return arr.astype(float).mean(axis=0)
    if arr.ndim != 2:
        raise FileFormatError(f"a micrograph must be a 2D image, got an array of shape {arr.shape}", source=source)
    return arr.astype(float)


def read_photo(path: Path) -> np.ndarray:
    """Grey image of a PNG/JPEG/BMP/GIF micrograph, read with Pillow (GIF: first frame).

    Palette and CMYK images are converted to RGB(A) first, so that the grey rule sees colours.
    """
    from PIL import Image

    try:
        with Image.open(path) as im:  # closes the file also when decoding fails
            if im.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
                im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
            arr = np.asarray(im)
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for broken files
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise FileFormatError(f"cannot read the micrograph ({detail})", source=path) from None
    return to_grey(arr, source=path)


def grey_from_dataset(ds, path) -> np.ndarray:
    """Grey image of a micrograph read by :func:`tracerdiff.io.read`: R/G/B channels or one grey channel."""
    colour = [c for c in ("R", "G", "B") if c in ds.data_vars]
    if colour:
        if len(colour) != 3:
            raise FileFormatError(f"colour micrograph with channels {sorted(ds.data_vars)}; expected R, G and B",
                                  source=path)
        return to_grey(np.stack([np.asarray(ds[c].values) for c in colour], axis=-1), source=path)
    if len(ds.data_vars) != 1:
        raise FileFormatError(f"holds {len(ds.data_vars)} channels ({sorted(ds.data_vars)}); a micrograph has one "
                              "grey or three colour channels", source=path)
    return to_grey(np.asarray(next(iter(ds.data_vars.values())).values), source=path)

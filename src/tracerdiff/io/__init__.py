"""Readers: vendor and plain files -> one labelled image/profile type (:mod:`tracerdiff.io.image`).

Use :func:`read` for any file (format chosen by content before extension),
:func:`read_count_pair` for separate 6Li/7Li images, :func:`write` for HDF5 output and
:func:`sha256_file` for provenance. All failures raise
:class:`tracerdiff.errors.FileFormatError` naming the file.
"""

from tracerdiff.io._base import sha256_file
from tracerdiff.io.api import FORMATS, read, read_count_pair
from tracerdiff.io.detect import sniff
from tracerdiff.io.hdf import write
from tracerdiff.io.image import LI6, LI7, make_image, make_profile, metadata

__all__ = ["LI6", "LI7", "FORMATS", "make_image", "make_profile", "metadata", "read", "read_count_pair",
           "sha256_file", "sniff", "write"]

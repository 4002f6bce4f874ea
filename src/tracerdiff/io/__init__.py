"""Readers: vendor and plain files -> one labelled image/profile type (:mod:`tracerdiff.io.image`).

Use :func:`read` for any image or profile file (format chosen by content before
extension); :func:`read_line_scan`, :func:`read_micrograph`, :func:`read_series_table` and
:func:`read_impedance_spectrum` for the other kinds of file (:data:`KINDS`);
:func:`read_count_pair` for separate 6Li/7Li images, :func:`write` for HDF5 output and
:func:`sha256_file` for provenance. All failures raise
:class:`tracerdiff.errors.FileFormatError` naming the file. Raw files are opened ``"rb"``.

Formats and how far they are tested
-----------------------------------
==================  ==========================  ==================================================
format              reader                      tested on
==================  ==========================  ==================================================
IONTOF ITA/ITM      pySPM 0.6.3 (+ block-tree   minimal files written with pySPM's block writer
                    walk refusing cycles)       (:func:`synth.write_ita`); real files untested
IONTOF BIF6         pybif6 0.2.0                files built from pybif6's documented layout
SurfaceLab ASCII    own parser                  files in the layout of :mod:`.surfacelab`; no
                                                public spec or sample found: real exports untested
Cameca .im          sims 2.0.2 (SIMSReader)     minimal type-27 files (no Anal_param_nano section,
                                                so the primary-beam raster path is untested)
TIFF (multi-page)   tifffile (+ IFD pre-walk)   files written by tifffile (shaped, appended,
                                                ImageJ, zlib)
text matrix         numpy.loadtxt               hand-written files
line-scan table     pandas (:mod:`.tabular`)    hand-written files (comma, tab, ';', spaces)
.npy / .npz         numpy (allow_pickle=False)  numpy-written files
HDF5 / NetCDF4      h5netcdf via xarray         exact round trip of :func:`write`
==================  ==========================  ==================================================

Every reader is fuzzed (truncations, bit flips, overwrites, wrong extensions) in
``tests/test_io_fuzz.py``. Lazy reads (``lazy=True``) return dask arrays: .npy and
uncompressed TIFF stacks are memory-mapped, compressed 2D TIFF images are decoded strip by
strip or tile by tile (:mod:`.tiffsegments`), HDF5 is chunked per frames, ITA scans are read
per scan; compressed single-IFD TIFF volumes are read eagerly.
"""

from tracerdiff.io._base import sha256_file
from tracerdiff.io.api import (FORMATS, KINDS, read, read_as, read_count_pair, read_impedance_spectrum, read_line_scan,
                               read_micrograph, read_series_table, read_tracer_pair)
from tracerdiff.io.detect import sniff
from tracerdiff.io.hdf import write
from tracerdiff.io.image import LI6, LI7, make_image, make_profile, metadata

__all__ = ["LI6", "LI7", "FORMATS", "KINDS", "make_image", "make_profile", "metadata", "read", "read_as",
           "read_count_pair", "read_impedance_spectrum", "read_line_scan", "read_micrograph", "read_series_table",
           "read_tracer_pair", "sha256_file", "sniff", "write"]

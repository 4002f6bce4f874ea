"""A file whose extension claims a binary format but whose bytes are text gets a message saying so."""

import numpy as np
import pytest

from tracerdiff.errors import FileFormatError
from tracerdiff.io import read


def test_text_named_tif_says_it_is_not_a_tiff(tmp_path):
    path = tmp_path / "counts.tif"
    path.write_text("hello world\n")
    with pytest.raises(FileFormatError) as info:
        read(path)
    message = str(info.value)
    assert str(path) in message
    assert "is not a tiff file" in message


def test_valid_text_matrix_named_tif_is_still_read_by_content(tmp_path):
    # Content decides, so a correct matrix with a misleading extension still reads.
    path = tmp_path / "matrix.tif"
    np.savetxt(path, np.arange(12.0).reshape(3, 4))
    ds = read(path, pixel_size_um=1.0)
    values = next(iter(ds.data_vars.values())).values
    np.testing.assert_array_equal(values, np.arange(12.0).reshape(3, 4))

"""The bundled scikit-learn sets read from their files equal scikit-learn's own loaders."""

from __future__ import annotations

import pandas as pd
import pytest
import sklearn.datasets

from psilon_bench.data.bundled import DIRECT, read_bundled


@pytest.mark.parametrize("loader", DIRECT)
def test_read_bundled_equals_sklearn(loader):
    data, columns, target, names = read_bundled(loader)
    bunch = getattr(sklearn.datasets, f"load_{loader}")(as_frame=True)
    X = pd.DataFrame(data, columns=columns, copy=False)
    pd.testing.assert_frame_equal(X, bunch.data, check_exact=True)
    y = pd.Series(target, name="target")
    pd.testing.assert_series_equal(y, bunch.target, check_exact=True)
    expected = [str(n) for n in bunch.target_names]
    assert names == expected


def test_diabetes_is_left_to_sklearn():
    assert read_bundled("diabetes") is None

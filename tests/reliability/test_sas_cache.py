"""Issue 8, item 7: a SaS cache file with finite but wrong values is rebuilt, whether or
not whoever changed it also rewrote the checksum and the stored spot values."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from psilon_bench.regularizers.stable import StableTable
from psilon_bench.regularizers.stable.cache import _digest, spot_nodes


def _rewrite(path, change) -> None:
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: np.array(data[k]) for k in data.files}
    change(arrays)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())


def _reseal(a) -> None:
    """Recompute the checksum of a tampered file, as a careless tool would."""
    stored = ("psi", "neg_log_pdf_ratio", "methods", "errors", "spot_index", "spot_psi")
    a["sha256"] = _digest(a["key"], *(a[k] for k in stored))


def _psi_times_10(a) -> None:
    a["psi"] = a["psi"] * 10


def _psi_times_10_resealed(a) -> None:
    _psi_times_10(a)
    _reseal(a)


def _everything_times_10_resealed(a) -> None:
    a["psi"] = a["psi"] * 10
    a["spot_psi"] = a["spot_psi"] * 10
    _reseal(a)


def _ratio_nudged(a) -> None:
    a["neg_log_pdf_ratio"] = a["neg_log_pdf_ratio"] * (1 + 1e-6)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.5])
@pytest.mark.parametrize(
    "damage",
    [_psi_times_10, _psi_times_10_resealed, _everything_times_10_resealed, _ratio_nudged],
)
def test_wrong_values_are_rebuilt(tmp_path, alpha, damage):
    reference = StableTable(alpha, cache_dir=tmp_path)
    u = torch.logspace(-3, 2, 50, dtype=torch.float64)
    expected = reference.score(u)
    _rewrite(reference.cache_path, damage)
    again = StableTable(alpha, cache_dir=tmp_path)
    assert not again.loaded_from_cache
    torch.testing.assert_close(again.score(u), expected, rtol=0, atol=0)
    assert StableTable(alpha, cache_dir=tmp_path).loaded_from_cache  # the file is whole again


def test_intact_cache_is_used_and_has_spots(tmp_path):
    first = StableTable(1.5, cache_dir=tmp_path)
    with np.load(first.cache_path) as data:
        assert len(data["spot_index"]) == 3 and data["sha256"].shape == (32,)
        np.testing.assert_allclose(data["psi"][data["spot_index"]], data["spot_psi"], rtol=1e-8)
    assert StableTable(1.5, cache_dir=tmp_path).loaded_from_cache


def test_spot_values_are_independent_of_the_table():
    """Spots come from closed forms / series: Cauchy psi(u) = 2u / (1 + u^2) at alpha 1."""
    from psilon_bench.regularizers.stable.build import grid_nodes

    index, psi = spot_nodes(1.0, 0.05, 1e3, 4096)
    u = grid_nodes()[index]
    np.testing.assert_allclose(psi, 2 * u / (1 + u * u), rtol=1e-15)
    index, psi = spot_nodes(1.5, 0.05, 1e3, 4096)
    assert len(index) == 3 and np.all(psi > 0)

"""Sparsity metrics of docs/methods.md (metrics) on hand-made stacked tensors (E, out, in)."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from psilon_bench.measure.sparsity import (
    exact_sparsity,
    near_sparsity,
    neuron_sparsity,
    nonzero_count,
    parameter_count,
    threshold_sparsity,
    unit_near_sparsity,
)

F64 = torch.float64


def test_exact_sparsity_over_all_matrices_per_member():
    w1 = torch.tensor(
        [[[0.0, 1.0, 2.0], [0.0, 3.0, 4.0]], [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]]
    )  # (2, 2, 3): member 0 has 2 zeros, member 1 none
    w2 = torch.tensor([[[0.0, 5.0], [6.0, 7.0]], [[0.0, 0.0], [0.0, 0.0]]])  # (2, 2, 2)
    got = exact_sparsity([w1, w2])
    assert got.dtype == F64
    torch.testing.assert_close(got, torch.tensor([3 / 10, 4 / 10], dtype=F64))
    torch.testing.assert_close(exact_sparsity([w1]), torch.tensor([2 / 6, 0.0], dtype=F64))
    # -0.0 is zero too, tiny values are not
    assert exact_sparsity([torch.tensor([[[-0.0, 1e-30]]])]).item() == 0.5


def test_threshold_sparsity_relative_and_absolute():
    row = torch.tensor([1.0, 1e-4, 0.5, 0.0], dtype=F64)  # mean magnitude 0.375025
    w = row.reshape(1, 1, 4)
    # relative, tau = 1e-3: limit 3.75e-4 -> 1e-4 and 0 count
    assert threshold_sparsity([w], 1e-3).item() == 0.5
    # relative, tau = 1: limit 0.375 -> 1e-4 and 0 count, 0.5 does not
    assert threshold_sparsity([w], 1.0).item() == 0.5
    assert threshold_sparsity([w], 2.0).item() == 0.75  # limit 0.75 catches 0.5
    # absolute
    assert threshold_sparsity([w], 1e-3, absolute=True).item() == 0.5
    assert threshold_sparsity([1000 * w], 1e-3, absolute=True).item() == 0.25
    # an all-zero unit counts fully
    assert threshold_sparsity([torch.zeros(1, 2, 3)], 1e-3).item() == 1.0


def test_threshold_sparsity_is_scale_free_per_unit():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(3, 6, 40, generator=g, dtype=F64) * torch.rand(3, 6, 40, generator=g) ** 6
    scaled = w.clone()
    scaled[:, 2, :] *= 1000.0  # one unit much larger
    scaled[1] *= 1e-3  # one whole member smaller
    for tau in (1e-3, 1e-2, 0.3):
        before = threshold_sparsity([w], tau)
        assert torch.all(before > 0)
        torch.testing.assert_close(threshold_sparsity([scaled], tau), before)


def gaussian_near_sparsity_limit() -> float:
    """d -> inf: p_i ~ |z_i| / (d E|z|), so exp(H) / d -> E|z| exp(-E[|z| log|z|] / E|z|)."""

    def density(z):
        return math.exp(-z * z / 2) / math.sqrt(2 * math.pi)

    mean_abs = 2 * integrate.quad(lambda z: z * density(z), 0, np.inf)[0]
    mean_abs_log = 2 * integrate.quad(lambda z: z * math.log(z) * density(z), 0, np.inf)[0]
    return 1 - mean_abs * math.exp(-mean_abs_log / mean_abs)


def test_near_sparsity_reference_values():
    d = 500
    # constant magnitude: 0 (the +1e-8 inside the log adds about 1e-8 / p_i = 5e-6 here);
    # k-hot: 1 - k/d (there 1e-8 / p_i = 1e-7)
    assert unit_near_sparsity(torch.ones(1, 1, d)).item() == pytest.approx(5e-6, abs=1e-7)
    ten_hot = torch.zeros(1, 1, d, dtype=F64)
    ten_hot[0, 0, 100:110] = 1.0
    assert near_sparsity([ten_hot]).item() == pytest.approx(0.98, abs=1e-6)
    # magnitudes within the 10 entries vary: still about 0.98
    ten_hot[0, 0, 100:110] = torch.linspace(0.5, 1.5, 10, dtype=F64)
    assert near_sparsity([ten_hot]).item() == pytest.approx(0.98, abs=2e-3)
    one_hot = torch.zeros(1, 1, d, dtype=F64)
    one_hot[0, 0, 3] = -7.0
    assert near_sparsity([one_hot]).item() == pytest.approx(1 - 1 / d, abs=1e-6)


def test_near_sparsity_of_gaussian_vectors():
    """Measured: E[ns] = 0.24666 at d = 500 (2e5 vectors, se 3e-5; sd 0.0118 per vector);
    the d -> inf limit is 0.24705 (integral below). METHODS §6 says 'about 0.24'."""
    limit = gaussian_near_sparsity_limit()
    assert limit == pytest.approx(0.24705, abs=1e-5)
    g = torch.Generator().manual_seed(0)
    single = torch.randn(1, 1, 500, generator=g, dtype=F64)
    assert near_sparsity([single]).item() == pytest.approx(0.2467, abs=0.05)
    many = torch.randn(2, 400, 500, generator=g, dtype=F64)  # 2 members x 400 units
    got = near_sparsity([many])
    assert got.shape == (2,)
    assert torch.all((got - 0.24666).abs() < 0.003)  # se of a mean of 400: 6e-4
    assert torch.all((got - limit).abs() < 0.004)
    # scale-free
    torch.testing.assert_close(near_sparsity([123.0 * many]), got)


def test_near_sparsity_averages_units_and_zero_rows():
    d = 4
    dense = torch.ones(1, 1, d, dtype=F64)  # ns = 0
    zero_rows = torch.zeros(1, 3, d, dtype=F64)  # all-zero rows: ns = 1 - 1/d each
    got = near_sparsity([dense, zero_rows])
    assert got.item() == pytest.approx((0.0 + 3 * (1 - 1 / d)) / 4, abs=1e-6)
    assert not torch.isnan(got).any()
    # CReLU halves as separate matrices: each unit counts once
    pos = torch.tensor([[[1.0, 0.0, 0.0, 0.0]]], dtype=F64)
    neg = torch.tensor([[[1.0, 1.0, 0.0, 0.0]]], dtype=F64)
    expected = ((1 - 1 / 4) + (1 - 2 / 4)) / 2
    assert near_sparsity([pos, neg]).item() == pytest.approx(expected, abs=1e-6)


def test_neuron_sparsity_and_counts():
    w1 = torch.tensor(
        [
            [[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]],  # member 0: units 0 and 2 dead
            [[1.0, 2.0], [3.0, 4.0], [0.0, 1e-9]],  # member 1: none dead
        ]
    )  # (2, 3, 2)
    w2 = torch.tensor([[[0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0]]])  # (2, 1, 3): dead in both
    got = neuron_sparsity([w1, w2])
    torch.testing.assert_close(got, torch.tensor([3 / 4, 1 / 4], dtype=F64))
    bias = torch.tensor([[0.0, 2.0, 0.0], [1.0, 1.0, 1.0]])  # (2, 3)
    counts = nonzero_count([w1, w2, bias])
    assert counts.dtype == torch.int64
    assert counts.tolist() == [1 + 0 + 1, 5 + 0 + 3]
    assert parameter_count([w1, w2, bias]) == 6 + 3 + 3


def test_single_member_and_single_tensor():
    w = torch.tensor([[[0.0, 2.0], [0.0, 0.0]]])  # E = 1
    assert exact_sparsity(w).tolist() == [0.75]
    assert neuron_sparsity(w).tolist() == [0.5]
    assert nonzero_count(w).tolist() == [1]
    with pytest.raises(ValueError, match="at least one"):
        exact_sparsity([])

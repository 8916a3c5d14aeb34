"""The suite's one tolerance rule (tests/helpers.py) passes what it should and fails the rest."""

import pytest
import torch

from helpers import TOLERANCES, assert_close, relative_error


def test_error_is_measured_against_the_tensor_scale():
    expected = torch.tensor([100.0, 0.0], dtype=torch.float64)
    # An absolute error of 1e-3 on a tensor of scale 100 is 1e-5 relative, wherever it falls.
    assert relative_error(expected + torch.tensor([0.0, 1e-3]), expected) == pytest.approx(1e-5)
    # Below scale 1 the bound is absolute.
    small = torch.tensor([1e-3], dtype=torch.float64)
    assert relative_error(small * 2, small) == pytest.approx(1e-3)


@pytest.mark.parametrize("dtype", list(TOLERANCES), ids=str)
def test_passes_within_and_fails_beyond_the_dtype_bound(dtype):
    expected = torch.linspace(-3, 3, 50, dtype=torch.float64)
    tol = TOLERANCES[dtype]
    assert_close(expected + 0.5 * tol * 3, expected, dtype)
    with pytest.raises(AssertionError, match="error"):
        assert_close(expected + 2 * tol * 3, expected, dtype, "out")


def test_nan_and_shape_mismatch_fail():
    expected = torch.zeros(4, dtype=torch.float64)
    poisoned = expected.clone()
    poisoned[2] = float("nan")
    with pytest.raises(AssertionError, match="NaN"):
        assert_close(poisoned, expected, torch.float64)
    with pytest.raises(AssertionError, match="shape"):
        assert_close(torch.zeros(5, dtype=torch.float64), expected)
    with pytest.raises(AssertionError, match="error"):
        assert_close(expected + 1e-3, expected, tol=1e-4)

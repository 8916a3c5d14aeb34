import numpy as np
import pytest

from grunet.errors import DataError
from grunet.forecast import metrics as M

Y, F = [1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 6.0]  # errors 0, -1, 1, -2


def test_point_metrics_match_hand_computed_values():
    assert M.mae(Y, F) == pytest.approx(1.0)
    assert M.rmse(Y, F) == pytest.approx(np.sqrt(6 / 4))
    assert M.mape(Y, F) == pytest.approx(100 * (0 + 1 / 2 + 1 / 3 + 2 / 4) / 4)
    assert M.smape(Y, F) == pytest.approx(100 * (0 + 2 / 5 + 2 / 5 + 4 / 10) / 4)


def test_mase_uses_the_seasonal_naive_in_sample_error():
    train = [1.0, 3.0, 2.0, 4.0, 3.0]
    assert M.mase(Y, F, train, m=1) == pytest.approx(1.0 / 1.5)  # |diffs| 2, 1, 2, 1
    assert M.mase(Y, F, train, m=2) == pytest.approx(1.0 / 1.0)  # |lag-2 diffs| 1, 1, 1
    with pytest.raises(DataError, match="more than m=5"):
        M.mase(Y, F, train, m=5)


def test_pinball_loss_and_coverage():
    assert M.pinball_loss([1.0, 2.0], [0.0, 3.0], 0.9) == pytest.approx((0.9 * 1 + 0.1 * 1) / 2)
    assert M.pinball_loss(Y, F, 0.5) == pytest.approx(M.mae(Y, F) / 2)
    assert M.coverage([1.0, 2.0, 3.0, 4.0], [0.0, 2.5, 2.0, 4.0], [2.0, 3.0, 2.5, 4.0]) == 0.5
    with pytest.raises(ValueError, match="q must be in"):
        M.pinball_loss(Y, F, 1.0)


def test_mape_with_zero_actual_is_nan_and_shapes_must_match():
    assert np.isnan(M.mape([0.0, 1.0], [1.0, 1.0]))
    assert M.smape([0.0], [0.0]) == 0.0
    with pytest.raises(DataError, match="differ in shape"):
        M.mae([1.0, 2.0], [1.0])

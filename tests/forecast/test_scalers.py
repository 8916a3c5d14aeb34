import json

import numpy as np
import pytest

from grunet.errors import NotFittedError
from grunet.forecast.scalers import (
    MinMaxScaler,
    RobustScaler,
    Scaler,
    StandardScaler,
    get_scaler,
)


@pytest.mark.parametrize("cls", [StandardScaler, MinMaxScaler, RobustScaler])
def test_round_trip_and_config(cls):
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, (37, 3))
    s = cls().fit(x)
    np.testing.assert_allclose(s.inverse_transform(s.transform(x)), x, rtol=1e-12, atol=1e-12)
    t = Scaler.from_config(json.loads(json.dumps(s.get_config())))
    assert type(t) is cls
    np.testing.assert_array_equal(t.transform(x), s.transform(x))


def test_each_scaler_maps_the_training_part_as_documented():
    x = np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    z = StandardScaler().fit_transform(x)
    assert z.mean() == pytest.approx(0) and z.std() == pytest.approx(1)
    m = MinMaxScaler().fit_transform(x)
    assert m.min() == 0 and m.max() == 1
    r = RobustScaler().fit(x)
    assert r.center_[0] == 3.0 and r.scale_[0] == 2.0  # median 3, IQR 4 - 2


def test_constant_column_and_errors():
    s = StandardScaler().fit(np.full(5, 7.0))
    np.testing.assert_array_equal(s.transform(np.full(2, 7.0)), [0.0, 0.0])
    with pytest.raises(RuntimeError, match="not fitted"):
        StandardScaler().transform([1.0])
    with pytest.raises(NotFittedError, match="not fitted"):
        StandardScaler().inverse_transform([1.0])
    with pytest.raises(NotFittedError, match="not fitted"):
        StandardScaler().fitted_params()
    center, scale = s.fitted_params()
    assert center.tolist() == [7.0] and scale.tolist() == [1.0]
    with pytest.raises(ValueError, match="Unknown scaler"):
        get_scaler("zscore")
    assert get_scaler(None).fit_transform([1.0, 2.0]).tolist() == [1.0, 2.0]

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grunet.errors import DataError
from grunet.forecast.windows import (
    make_windows,
    rolling_origins,
    split_point,
    window_origins,
)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 80), L=st.integers(1, 20), H=st.integers(1, 10), cut=st.integers(0, 80))
def test_training_windows_never_reach_the_cut(n, L, H, cut):
    t = np.arange(n, dtype=np.float64)  # each value is its own time step
    origins = window_origins(n, L, H, stop=cut)
    X, Y = make_windows(t[:, None], t, L, H, origins)
    assert np.all(np.diff(origins) == 1)  # time order
    if len(origins):
        assert X.max() < min(cut, n) and Y.max() < min(cut, n)
        np.testing.assert_array_equal(
            X[:, :, 0], origins[:, None] - L + np.arange(L)
        )  # inputs [o-L, o)
        np.testing.assert_array_equal(Y, origins[:, None] + np.arange(H))  # targets [o, o+H)
        assert np.all(X[:, -1, 0] < Y[:, 0])  # every input precedes its targets
    # validation windows start at the cut: none of their targets lie in the training part
    val = window_origins(n, L, H, first=cut)
    assert not len(val) or val.min() >= cut


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(10, 200), H=st.integers(1, 12), folds=st.integers(1, 6), stride=st.integers(1, 12)
)
def test_rolling_origins_are_ordered_and_end_at_the_series_end(n, H, folds, stride):
    try:
        cuts = rolling_origins(n, H, folds=folds, stride=stride, min_train=5)
    except DataError:
        assert n - H - (folds - 1) * stride < 5
        return
    assert len(cuts) == folds and cuts[-1] + H == n and cuts[0] >= 5
    assert all(b - a == stride for a, b in zip(cuts, cuts[1:], strict=False))


def test_rolling_origins_from_start_and_errors():
    assert rolling_origins(30, 5, start=10) == [10, 15, 20, 25]
    assert rolling_origins(30, 5, start=-10, stride=2) == [20, 22, 24]
    assert rolling_origins(30, 5, start=10, folds=2) == [10, 15]
    with pytest.raises(ValueError, match="folds=K or start"):
        rolling_origins(30, 5)
    with pytest.raises(DataError, match="too short"):
        rolling_origins(12, 5, folds=3, min_train=4)


def test_split_point():
    assert split_point(100, None) == 100
    assert split_point(100, 12) == 88
    assert split_point(100, 0.2) == 80
    assert split_point(10, 0.25) == 7  # rounds the held-out part up
    with pytest.raises(DataError, match="nothing to train"):
        split_point(10, 10)
    with pytest.raises(ValueError, match="fraction"):
        split_point(10, 1.5)


def test_make_windows_takes_a_list_or_an_array_of_origins():
    rng = np.random.default_rng(0)
    feats, target = rng.normal(size=(30, 3)), rng.normal(size=30)
    X1, Y1 = make_windows(feats, target, 5, 4, [5, 9, 26])
    X2, Y2 = make_windows(feats, target, 5, 4, np.array([5, 9, 26]))
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(Y1, Y2)
    np.testing.assert_array_equal(X1[1], feats[4:9].astype(np.float32))  # (L, F) before step 9
    np.testing.assert_array_equal(Y1[2], target[26:30].astype(np.float32))
    with pytest.raises(DataError, match="origins must lie in"):
        make_windows(feats, target, 5, 4, [4])

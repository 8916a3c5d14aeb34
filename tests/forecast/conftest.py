"""Small synthetic tables for the forecasting tests (fast: tiny models, few epochs)."""

import numpy as np
import pandas as pd
import pytest

from helpers import seasonal


@pytest.fixture
def monthly() -> pd.DataFrame:
    """One clean monthly seasonal series, 96 months from 2000-01."""
    return pd.DataFrame(
        {"date": pd.date_range("2000-01-01", periods=96, freq="MS"), "value": seasonal()}
    )


@pytest.fixture
def long_table() -> pd.DataFrame:
    """Two daily series in long layout (id, date, value) with a covariate."""
    parts = []
    for k, sid in enumerate(["a", "b"]):
        dates = pd.date_range("2021-03-01", periods=60, freq="D")
        parts.append(
            pd.DataFrame(
                {
                    "id": sid,
                    "date": dates,
                    "value": seasonal(60, 7, seed=k, level=5 + 5 * k),
                    "temp": np.cos(np.arange(60) / 5),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


class _Endless:
    """A model whose fit never ends (statsforecast's AutoARIMA at season length 48 on a long
    series behaves like this for minutes); it swallows ordinary exceptions as AutoARIMA's order
    search does."""

    def forecast(self, **kwargs):
        while True:
            try:
                sum(range(1000))
            except Exception:  # noqa: BLE001, S112 - the point: the budget must get through this
                continue


@pytest.fixture
def endless_model() -> _Endless:
    """A baseline model whose `forecast` never returns (for `make_model` in the time-limit
    tests)."""
    return _Endless()

"""Inputs users bring: Nixtla long tables, darts series, gaps to fill, unreadable dates."""

import numpy as np
import pandas as pd
import pytest

from conftest import seasonal
from grunet.errors import DataError, OptionError
from grunet.forecast import Forecaster
from grunet.forecast.frame import load_panel
from grunet.forecast.inputs import as_table, fill_gaps, guess_schema


class FakeDartsSeries:
    """The parts of darts.TimeSeries that grunet reads: time_index, values(), components."""

    def __init__(self, index, values, components):
        self.time_index = index
        self._values = np.asarray(values)
        self.components = pd.Index(components)

    def values(self, copy=True):
        return self._values.copy()


class FakeDartsFrame(FakeDartsSeries):
    """A darts >= 0.30 series also offers to_dataframe() (older ones: pd_dataframe())."""

    def to_dataframe(self):
        return pd.DataFrame(self._values, index=self.time_index, columns=self.components)


def _nixtla() -> pd.DataFrame:
    parts = [
        pd.DataFrame(
            {
                "unique_id": sid,
                "ds": pd.date_range("2001-01-01", periods=40, freq="MS"),
                "y": seasonal(40, seed=k, level=10 + k),
            }
        )
        for k, sid in enumerate(["H1", "H2"])
    ]
    return pd.concat(parts, ignore_index=True)


def test_nixtla_long_format_needs_no_column_names():
    df = _nixtla()
    panel = load_panel(df)
    assert panel.ids == ["H1", "H2"] and panel.freq == "MS"
    np.testing.assert_array_equal(panel.series[1].target, df["y"].to_numpy()[40:])
    assert guess_schema(df) == {"id": "unique_id", "date": "ds", "target": "y"}
    f = Forecaster(lookback=6, horizon=3, units=4, seed=0).fit(df, epochs=1)
    assert set(f.predict()["id"]) == {"H1", "H2"}


@pytest.mark.parametrize("cls", [FakeDartsSeries, FakeDartsFrame])
def test_darts_series_are_accepted_by_duck_typing(cls):
    idx = pd.date_range("2010-01-01", periods=30, freq="D")
    one = cls(idx, seasonal(30, 7).reshape(-1, 1), ["sales"])
    panel = load_panel(one)
    assert panel.freq == "D" and panel.ids == [None]
    np.testing.assert_array_equal(panel.series[0].target, seasonal(30, 7))
    two = cls(idx, np.column_stack([seasonal(30, 7), seasonal(30, 7, seed=1)]), ["a", "b"])
    assert load_panel(two).ids == ["a", "b"]  # several components: one series each
    assert list(as_table(two).columns) == ["date", "a", "b"]


def test_fill_interpolate_inserts_missing_dates_and_values():
    dates = pd.date_range("2000-01-01", periods=12, freq="MS")
    df = pd.DataFrame({"date": dates, "value": np.arange(12.0)})
    gappy = df.drop(index=[4, 5]).reset_index(drop=True)
    gappy.loc[7, "value"] = np.nan  # a missing value as well (2000-10)
    with pytest.raises(DataError, match="missing .*fill='interpolate'"):
        load_panel(gappy, date="date")
    with pytest.raises(DataError, match="irregular .*fill='interpolate'"):
        load_panel(gappy.dropna(), date="date")
    panel = load_panel(gappy, date="date", fill="interpolate")
    assert panel.freq == "MS"
    np.testing.assert_allclose(panel.series[0].target, np.arange(12.0))  # a straight line back
    steps = pd.DataFrame({"t": [1, 2, 4, 5], "value": [1.0, np.nan, 4.0, 5.0]})
    filled = fill_gaps(steps, "t", ["value"], "interpolate")
    assert filled["t"].tolist() == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(filled["value"], [1.0, 2.0, 3.0, 4.0, 5.0])
    with pytest.raises(OptionError, match="fill must be None or 'interpolate'"):
        load_panel(df, date="date", fill="zero")


def test_unparseable_dates_name_the_file_and_row(tmp_path):
    path = tmp_path / "shop.csv"
    path.write_text("date,value\n2020-01-01,1\n2020-02-01,2\nlast March,3\n2020-04-01,4\n")
    with pytest.raises(DataError, match=r"^shop\.csv: .*data row 3 \('last March'\)"):
        load_panel(path, date="date")


def test_guess_schema_of_plain_tables():
    wide = pd.DataFrame({"t": [0, 1, 2], "DAX": [1.0, 2, 3], "SMI": [3.0, 2, 1]})
    assert guess_schema(wide) == {"target": ["DAX", "SMI"], "date": "t", "id": None}
    named = pd.DataFrame({"when": ["2020-01-01", "2020-01-02"], "sales": [1.0, 2.0]})
    assert guess_schema(named) == {"target": "sales", "date": "when", "id": None}
    with pytest.raises(DataError, match="no numeric column to forecast"):
        guess_schema(pd.DataFrame({"date": ["2020-01-01"], "note": ["x"]}))

import numpy as np
import pandas as pd
import pytest

from grunet.errors import DataError
from grunet.forecast.frame import (
    calendar_features,
    calendar_names,
    future_index,
    load_panel,
    read_table,
    season_length,
)


def test_long_table_gives_one_series_per_id_with_covariates(long_table):
    panel = load_panel(long_table, date="date", id="id", covariates=["temp"])
    assert panel.ids == ["a", "b"] and panel.freq == "D"
    assert panel.series[1].target.shape == (60,) and panel.series[1].covariates.shape == (60, 1)


def test_wide_table_gives_one_series_per_target_column(monthly):
    df = monthly.assign(other=monthly["value"] * 2)
    panel = load_panel(df, target=["value", "other"], date="date")
    assert panel.ids == ["value", "other"]
    np.testing.assert_array_equal(panel.series[1].target, df["other"].to_numpy())


def test_unsorted_dates_are_sorted_and_integer_steps_work(monthly):
    panel = load_panel(monthly.iloc[::-1], date="date")
    assert panel.series[0].index.is_monotonic_increasing and panel.freq == "MS"
    steps = pd.DataFrame({"t": np.arange(0, 40, 2), "value": np.arange(20.0)})
    panel = load_panel(steps, date="t")
    assert panel.freq is None and panel.step == 2
    np.testing.assert_array_equal(future_index(panel.series[0].index, 2, None, 2), [40, 42])


@pytest.mark.parametrize(
    "kwargs, change, match",
    [
        (
            {"target": "sales"},
            None,
            "target column 'sales' not found. The data has columns: date, value",
        ),
        ({"target": "vaule"}, None, "target column 'vaule' not found; did you mean 'value'\\?"),
        ({"covariates": ["x"]}, None, "covariate column 'x' not found"),
        (
            {},
            lambda d: d.assign(value=d["value"].astype(str).where(d.index != 3, "n/a")),
            "not numeric .*'n/a'",
        ),
        (
            {},
            lambda d: d.assign(value=d["value"].where(d.index != 5)),
            "1 missing or infinite value.*row 6",
        ),
        ({}, lambda d: d.drop(index=[10, 20]), "irregular"),
        ({}, lambda d: pd.concat([d, d.iloc[[4]]]), "duplicate date 2000-05-01"),
        (
            {},
            lambda d: d.assign(date=d["date"].astype(str).where(d.index != 2, "soon")),
            r"not a date in data row 3 \('soon'\)",
        ),
    ],
)
def test_bad_tables_raise_clear_errors(monthly, kwargs, change, match):
    df = monthly if change is None else change(monthly)
    with pytest.raises(DataError, match=match):
        load_panel(df, **{"date": "date", **kwargs})


def test_series_of_different_frequencies_are_refused(monthly):
    daily = pd.DataFrame({"date": pd.date_range("2000-01-01", periods=30, freq="D"), "value": 1.0})
    df = pd.concat([monthly.assign(id="m"), daily.assign(id="d")])
    with pytest.raises(DataError, match="different frequencies"):
        load_panel(df, date="date", id="id")


def test_read_table_errors(tmp_path, monthly):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="is empty"):
        read_table(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("date,value\n")
    with pytest.raises(DataError, match="no data rows"):
        read_table(tmp_path / "header.csv")
    (tmp_path / "data.json").write_text("{}")
    with pytest.raises(DataError, match="unsupported file type '.json'"):
        read_table(tmp_path / "data.json")
    with pytest.raises(DataError, match="no data file"):
        read_table(tmp_path / "missing.csv")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="could not read"):
        read_table(tmp_path / "bad.parquet")


def test_parquet_round_trip(tmp_path, monthly):
    monthly.to_parquet(tmp_path / "m.parquet")
    panel = load_panel(tmp_path / "m.parquet", date="date")
    np.testing.assert_array_equal(panel.series[0].target, monthly["value"].to_numpy())


class _PathLike:
    """An os.PathLike that is not a pathlib.Path."""

    def __init__(self, path):
        self.path = path

    def __fspath__(self):
        return str(self.path)


def test_load_panel_reads_any_path_like(tmp_path, monthly):
    monthly.to_csv(tmp_path / "m.csv", index=False)
    panel = load_panel(_PathLike(tmp_path / "m.csv"), date="date")
    np.testing.assert_allclose(panel.series[0].target, monthly["value"].to_numpy(), rtol=1e-12)
    assert panel.freq == "MS"
    with pytest.raises(DataError, match="no data file"):
        load_panel(_PathLike(tmp_path / "missing.csv"))


def test_frequencies_seasons_and_calendar_features():
    assert [
        season_length(f) for f in ("MS", "ME", "D", "B", "h", "W-SUN", "QS-OCT", "YS-JAN", None)
    ] == [12, 12, 7, 5, 24, 52, 4, 1, 1]
    assert [season_length(f) for f in ("30min", "15min", "2h", "7min", "2MS")] == [48, 96, 12, 1, 1]
    idx = pd.date_range("2020-01-01", periods=24, freq="MS")
    feats = calendar_features(idx, "MS")  # month sin, cos
    assert feats.shape == (24, 2) and calendar_names("MS") == ("month",)
    np.testing.assert_allclose(feats[0], [0.0, 1.0], atol=1e-12)  # January
    np.testing.assert_allclose(feats[12], feats[0])  # a year later
    with pytest.raises(DataError, match="calendar features need a date column"):
        calendar_names(None)

"""From a table to validated series: read CSV/Parquet, long or wide layout, frequency, calendar.

A table becomes a `Panel`: one `Series` per id, each with its target values (N,), its past
covariates (N, C) and its time index (datetimes of one inferred frequency, or integer steps).
Every problem is a `DataError` that names the column or series and says what to do.

Legend:  N: time steps of one series  C: covariate columns  K: calendar feature columns
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from grunet.errors import DataError
from grunet.forecast.inputs import (
    NIXTLA,
    as_table,
    fill_gaps,
    guess_schema,
    is_darts,
    parse_dates,
    read_table,
)


@dataclass
class Schema:
    """Which columns play which role. A list `target` means wide layout: one series per column."""

    target: str | list[str] = "value"
    date: str | None = None
    id: str | None = None
    covariates: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Series:
    """One validated series. `index` is a DatetimeIndex, or int64 steps when there is no date."""

    id: str | None
    target: np.ndarray  # (N,) float64
    covariates: np.ndarray  # (N, C) float64
    index: pd.DatetimeIndex | np.ndarray

    def __len__(self) -> int:
        return len(self.target)

    def head(self, stop: int) -> Series:
        """The first `stop` steps (time order kept)."""
        return Series(self.id, self.target[:stop], self.covariates[:stop], self.index[:stop])

    def tail(self, n: int) -> Series:
        """The last `n` steps."""
        start = max(len(self) - n, 0)
        return Series(self.id, self.target[start:], self.covariates[start:], self.index[start:])


@dataclass
class Panel:
    """Validated series sharing one frequency (`freq` a pandas alias, or None with integer `step`)."""

    series: list[Series]
    freq: str | None
    step: int
    schema: Schema

    @property
    def ids(self) -> list[str | None]:
        return [s.id for s in self.series]

    def map(self, fn: Callable[[Series], Series]) -> Panel:
        return Panel([fn(s) for s in self.series], self.freq, self.step, self.schema)


def _columns_hint(df: pd.DataFrame) -> str:
    cols = [str(c) for c in df.columns]
    shown = ", ".join(cols[:12]) + (", ..." if len(cols) > 12 else "")
    return f"the data has columns: {shown}"


def _require_columns(df: pd.DataFrame, names: Sequence[str], role: str) -> None:
    for name in names:
        if name not in df.columns:
            columns = [str(c) for c in df.columns]
            close = difflib.get_close_matches(str(name), columns, n=1, cutoff=0.7) or [
                c for c in columns if c.strip().lower() == str(name).strip().lower()
            ]
            hint = f"; did you mean {close[0]!r}?" if close else "."
            columns_hint = _columns_hint(df)
            raise DataError(
                f"{role} column {name!r} not found{hint} {columns_hint[0].upper()}{columns_hint[1:]}."
            )


def _numeric(df: pd.DataFrame, col: str, role: str) -> np.ndarray:
    s = df[col]
    if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
        converted = pd.to_numeric(s, errors="coerce")
        bad = converted.isna() & s.notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{role} column {col!r} is not numeric (value {s.iloc[row]!r} in data row {row + 1}); "
                "choose a numeric column or clean it."
            )
        s = converted
    values = s.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = ~np.isfinite(values)
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise DataError(
            f"{role} column {col!r} has {int(missing.sum())} missing or infinite value(s) (first in "
            f"data row {row + 1}); fill them (fill='interpolate', or df[{col!r}].interpolate()) or "
            "drop those rows."
        )
    return values


def _infer_freq(index: pd.DatetimeIndex) -> str | None:
    """pd.infer_freq as an alias string on pandas 2 and 3 (3 can return an offset object)."""
    try:
        with pd.option_context("future.infer_freq_returns_offset", True):
            freq = pd.infer_freq(index)
    except (KeyError, AttributeError):  # pandas without that option
        freq = pd.infer_freq(index)
    return None if freq is None else getattr(freq, "freqstr", freq)


def _check_time(index, name: str, date_col: str) -> tuple[str | None, int]:
    """The frequency (alias) of a sorted, duplicate-free index, or a DataError for irregular ones."""
    if isinstance(index, pd.DatetimeIndex):
        if len(index) < 3:
            raise DataError(
                f"{name} has {len(index)} dates; at least 3 are needed to infer a frequency."
            )
        freq = _infer_freq(index)
        if freq is None:
            gaps = np.diff(index.asi8)
            common = pd.Series(gaps).mode().iloc[0]
            i = int(np.flatnonzero(gaps != common)[0])
            raise DataError(
                f"{name}: dates in column {date_col!r} are irregular (no single frequency; e.g. a "
                f"gap from {index[i].date()} to {index[i + 1].date()}); resample to a regular "
                "frequency first (fill='interpolate' inserts the missing dates and interpolates)."
            )
        return freq, 1
    steps = np.diff(index)
    if len(steps) and (steps != steps[0]).any():
        i = int(np.flatnonzero(steps != steps[0])[0])
        raise DataError(
            f"{name}: integer steps in column {date_col!r} are irregular (from {index[i]} to "
            f"{index[i + 1]}); they must grow by a constant amount."
        )
    return None, int(steps[0]) if len(steps) else 1


def load_panel(
    data: pd.DataFrame | Panel | str | os.PathLike,
    target: str | Sequence[str] = "value",
    date: str | None = None,
    id: str | None = None,
    covariates: Sequence[str] | None = None,
    fill: str | None = None,
) -> Panel:
    """Validate a table into a Panel of series.

    Layouts: long (``id, date, value``: one row per series and step; give `id`), a single series
    (no `id`), or wide (`target` a list of columns: one series per column, named by the column).
    Nixtla's long format (``unique_id, ds, y``) and a darts ``TimeSeries`` are recognised without
    naming columns (while `target`, `date` and `id` keep their defaults).

    Args:
        data: a DataFrame or a path to a .csv/.parquet file (a Panel is returned as it is, so
            callers can validate a table once and pass the result on).
        target: the column to forecast, or several columns (wide layout).
        date: the time column (datetimes, or integer steps); None takes a column named "date" (or
            "ds") when there is one, and otherwise the rows are consecutive steps.
        id: the series-id column of a long table.
        covariates: other numeric columns used as past covariates (inputs, not forecast).
        fill: None (missing dates or values are errors) or "interpolate": insert missing dates
            at each series' regular spacing and interpolate missing values linearly.

    Raises:
        DataError: missing columns, non-numeric or missing values, duplicate or irregular dates,
            series of different frequencies. Errors about a file start with its name.
    """
    if isinstance(data, Panel):
        return data
    if not isinstance(data, (str, os.PathLike)):
        return _load_panel(data, target, date, id, covariates, fill)
    try:
        return _load_panel(read_table(data), target, date, id, covariates, fill)
    except DataError as e:
        name = Path(data).name
        raise DataError(str(e) if str(e).startswith(name) else f"{name}: {e}") from None


def _load_panel(data, target, date, id, covariates, fill) -> Panel:
    darts = is_darts(data)
    df = as_table(data)
    if target == "value" and date is None and id is None and isinstance(df, pd.DataFrame):
        if darts or set(NIXTLA.values()) <= set(map(str, df.columns)):
            roles = guess_schema(df)
            target, date, id = roles["target"], roles["date"], roles["id"]
    if date is None and isinstance(df, pd.DataFrame):
        # a column named "date" (or "ds") is the time column unless another is named
        named = [str(t) for t in ([target] if isinstance(target, str) else target)]
        date = next((c for c in ("date", "ds") if c in df.columns and c not in named), None)
    if not isinstance(df, pd.DataFrame):
        raise DataError(
            f"data must be a pandas DataFrame or a path to a file, got {type(df).__name__}."
        )
    if df.empty:
        raise DataError("the data has no rows.")
    covariates = list(covariates or [])
    targets = [target] if isinstance(target, str) else list(target)
    if not targets:
        raise DataError("no target column given; name the column to forecast.")
    wide = not isinstance(target, str)
    if wide and id is not None:
        raise DataError(
            "give either an id column (long layout) or several target columns (wide), not both."
        )
    _require_columns(df, targets, "target")
    _require_columns(df, covariates, "covariate")
    for col in (date, id):
        if col is not None:
            _require_columns(df, [col], "date" if col == date else "id")
    overlap = set(covariates) & (set(targets) | {date, id})
    if overlap:
        raise DataError(
            f"column(s) {', '.join(sorted(map(str, overlap)))} cannot be both a covariate and another role."
        )
    schema = Schema(
        target=target if isinstance(target, str) else targets,
        date=date,
        id=id,
        covariates=covariates,
    )

    groups: list[tuple[str | None, pd.DataFrame]]
    if id is None:
        groups = [(None, df)]
    else:
        if df[id].isna().any():
            raise DataError(f"id column {id!r} has missing values; every row needs a series id.")
        groups = [(str(k), g) for k, g in df.groupby(df[id].astype(str), sort=True)]

    series: list[Series] = []
    for key, g in groups:
        g = fill_gaps(g.reset_index(drop=True), date, [*targets, *covariates], fill)
        if date is not None:
            index = parse_dates(g, date)
            order = np.argsort(np.asarray(index), kind="stable")
            g, index = g.iloc[order].reset_index(drop=True), index[order]
            values = np.asarray(index)
            dup = values[1:] == values[:-1]
            if dup.any():
                raise DataError(
                    f"{'series ' + repr(key) if key is not None else 'the series'} has a duplicate "
                    f"date {index[int(np.flatnonzero(dup)[0])]} in column {date!r}; aggregate or drop "
                    "duplicates (or give --id for a long table of several series)."
                )
        else:
            index = np.arange(len(g), dtype=np.int64)
        cov = (
            np.column_stack([_numeric(g, c, "covariate") for c in covariates])
            if covariates
            else np.zeros((len(g), 0))
        )
        for col in targets:
            sid = col if wide else key
            series.append(Series(sid, _numeric(g, col, "target"), cov, index))

    freqs: dict[tuple, list] = {}
    for s in series:
        name = f"series {s.id!r}" if s.id is not None else "the series"
        freqs.setdefault(_check_time(s.index, name, date or "(row order)"), []).append(s.id)
    if len(freqs) > 1:
        described = "; ".join(
            f"{f[0] or f'every {f[1]} step(s)'}: {', '.join(map(str, ids[:3]))}"
            for f, ids in freqs.items()
        )
        raise DataError(
            f"the series have different frequencies ({described}); forecast them separately."
        )
    freq, step = next(iter(freqs))
    return Panel(series, freq, step, schema)


def future_index(index, steps: int, freq: str | None, step: int = 1):
    """The `steps` time points after the end of `index`, continuing its frequency."""
    if freq is not None:
        return pd.date_range(start=index[-1], periods=steps + 1, freq=freq)[1:]
    return np.asarray(index[-1] + step * np.arange(1, steps + 1), dtype=np.int64)


def _base_alias(freq: str) -> tuple[int, str]:
    m = re.fullmatch(r"(\d*)([A-Za-z]+)(?:-\w+)?", freq)
    if m is None:
        return 1, freq
    return int(m.group(1) or 1), m.group(2)


SEASON_LENGTH = {
    "MS": 12,
    "ME": 12,
    "M": 12,
    "BMS": 12,
    "BME": 12,
    "QS": 4,
    "QE": 4,
    "Q": 4,
    "BQS": 4,
    "BQE": 4,
    "W": 52,
    "D": 7,
    "B": 5,
    "C": 5,
    "h": 24,
    "H": 24,
}
SUB_DAILY = ("h", "H", "min", "T", "s", "S")


def season_length(freq: str | None) -> int:
    """The usual seasonal period of a frequency: 12 for monthly, 7 daily, 5 business-daily,
    4 quarterly, 52 weekly; below a day, the steps in a day (hourly 24, half-hourly 48, 15-minute
    96); 1 when there is none (yearly, integer steps, multiples of a calendar period)."""
    if freq is None:
        return 1
    mult, base = _base_alias(freq)
    if base in SEASON_LENGTH and base not in SUB_DAILY:
        return SEASON_LENGTH[base] if mult == 1 else 1
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except (ValueError, TypeError):
        return 1  # not a frequency pandas knows
    if not isinstance(offset, pd.offsets.Tick):
        return 1  # yearly and other calendar offsets of no fixed length
    step = pd.Timedelta(offset)
    day = pd.Timedelta(days=1)
    return int(day // step) if step < day and day % step == pd.Timedelta(0) else 1


def _cyclic(values, period: float) -> np.ndarray:
    angle = 2.0 * np.pi * np.asarray(values, dtype=np.float64) / period
    return np.column_stack([np.sin(angle), np.cos(angle)])  # (N, 2)


CALENDAR_FEATURES: dict[str, Callable[[pd.DatetimeIndex], np.ndarray]] = {
    "month": lambda idx: _cyclic(idx.month - 1, 12),
    "quarter": lambda idx: _cyclic(idx.quarter - 1, 4),
    "weekofyear": lambda idx: _cyclic(idx.isocalendar().week.to_numpy() - 1, 52.18),
    "dayofweek": lambda idx: _cyclic(idx.day_of_week, 7),
    "dayofyear": lambda idx: _cyclic(idx.day_of_year - 1, 365.25),
    "hour": lambda idx: _cyclic(idx.hour + idx.minute / 60.0, 24),
}
FEATURES_BY_FREQ = {
    "M": ("month",),
    "Q": ("quarter",),
    "W": ("weekofyear",),
    "D": ("dayofweek", "dayofyear"),
    "B": ("dayofweek", "dayofyear"),
    "C": ("dayofweek", "dayofyear"),
    "h": ("hour", "dayofweek"),
    "H": ("hour", "dayofweek"),
    "min": ("hour",),
    "T": ("hour",),
}


def calendar_names(freq: str | None) -> tuple[str, ...]:
    """Calendar features that vary at this frequency (each adds a sin and a cos column)."""
    if freq is None:
        raise DataError(
            "calendar features need a date column of datetimes; give --date, or turn calendar off."
        )
    _, base = _base_alias(freq)
    for prefix in (base, base.rstrip("SE") or base, base[-1:]):  # MS/ME -> M, BQS -> Q ...
        if prefix in FEATURES_BY_FREQ:
            return FEATURES_BY_FREQ[prefix]
    return ()


def calendar_features(index: pd.DatetimeIndex | np.ndarray, freq: str | None) -> np.ndarray:
    """Sin/cos encodings of the calendar position of each date: (N, 2 * len(calendar_names))."""
    names = calendar_names(freq)
    if not names:
        return np.zeros((len(index), 0))
    return np.concatenate([CALENDAR_FEATURES[n](pd.DatetimeIndex(index)) for n in names], axis=1)

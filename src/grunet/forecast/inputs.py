"""What users bring, made into a plain table: files, Nixtla long tables, darts series, gaps.

- `read_table`: a .csv/.tsv/.parquet file into a DataFrame (errors name the file and say why).
- `as_table`: a DataFrame as it is, or a darts ``TimeSeries`` (duck-typed: darts need not be
  installed) as a DataFrame with a ``date`` column and one column per component.
- `guess_schema`: the columns' roles when the user names none: the Nixtla long format
  (``unique_id, ds, y``), else a date-like column and the numeric columns beside it.
- `parse_dates`: a date column as datetimes (or integer steps); a bad value is named by row.
- `fill_gaps`: missing dates inserted at the series' frequency and missing values interpolated
  (``fill="interpolate"``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from grunet.errors import DataError, OptionError

READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    ".csv": pd.read_csv,
    ".tsv": lambda p: pd.read_csv(p, sep="\t"),
    ".parquet": pd.read_parquet,
    ".pq": pd.read_parquet,
}
NIXTLA = {"id": "unique_id", "date": "ds", "target": "y"}
DATE_NAMES = ("date", "ds", "time", "timestamp", "datetime", "t", "period", "step", "index")
FILLS = (None, "interpolate")


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a .csv/.tsv or .parquet file into a DataFrame, or raise a DataError saying why not."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"no data file at {path}; check the path.")
    if path.is_dir():
        raise DataError(f"{path} is a folder; give a .csv or .parquet file.")
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise DataError(
            f"{path.name}: unsupported file type {suffix or '(no extension)'!r}; give a .csv or "
            ".parquet file (convert other formats with pandas first)."
        )
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty; it needs a header row and data rows.")
    try:
        df = READERS[suffix](path)
    except UnicodeDecodeError as e:
        raise DataError(
            f"could not read {path} as {suffix[1:]}: {_encoding_hint(path, e)}"
        ) from None
    except (ValueError, OSError) as e:  # parser and Arrow errors
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"could not read {path} as {suffix[1:]}: {reason}.") from None
    if df.empty:
        raise DataError(f"{path} has a header but no data rows.")
    return df


def _encoding_hint(path: Path, e: UnicodeDecodeError) -> str:
    """Why a text table could not be decoded, and how to fix it."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "it is UTF-16 text (it starts with a UTF-16 byte-order mark); re-save it as UTF-8."
    if b"\x00" in head or sum(b < 9 or 13 < b < 32 for b in head) > len(head) // 20:
        return "it holds binary data, not text; give a CSV file (or a .parquet file)."
    return (
        f"it is not UTF-8 text (byte 0x{e.object[e.start]:02x} at position {e.start}; perhaps "
        "Latin-1 or Windows-1252); re-save it as UTF-8, e.g. iconv -f latin1 -t utf-8."
    )


def is_darts(data: Any) -> bool:
    """Whether `data` looks like a darts TimeSeries (has ``time_index`` and ``values()``)."""
    return hasattr(data, "time_index") and callable(getattr(data, "values", None))


def as_table(data: Any) -> pd.DataFrame:
    """A DataFrame as it is; a darts TimeSeries as ``date`` plus one column per component.

    darts is not imported: any object with ``to_dataframe()`` / ``pd_dataframe()`` (darts >= 0.30
    / older), or with ``values()`` (N, C) and ``time_index`` (and optional ``components``) works.
    A darts series with several samples (probabilistic) contributes its first sample.
    """
    if isinstance(data, pd.DataFrame) or not is_darts(data):
        return data
    index = pd.Index(data.time_index)
    for method in ("to_dataframe", "pd_dataframe"):
        if callable(getattr(data, method, None)):
            frame = getattr(data, method)()
            values, columns = frame.to_numpy(dtype=np.float64), [str(c) for c in frame.columns]
            break
    else:
        values = np.asarray(data.values(), dtype=np.float64)  # (N, C) or (N,)
        values = values.reshape(len(index), -1)
        components = getattr(data, "components", None)
        columns = (
            [str(c) for c in components]
            if components is not None
            else [f"value_{j}" if values.shape[1] > 1 else "value" for j in range(values.shape[1])]
        )
    table = pd.DataFrame(values, columns=columns)
    date = "date" if "date" not in columns else "time"
    table.insert(0, date, index.to_numpy())
    return table


def guess_schema(df: pd.DataFrame) -> dict[str, Any]:
    """Column roles for a table whose user named none.

    Nixtla's long format (``unique_id, ds, y``) -> id, date, target. Otherwise the date column is
    the first one named like a time (date, ds, time, timestamp, t, ...) or the first non-numeric
    one, and every other numeric column is a target (several: the wide layout).

    Raises:
        DataError: no numeric column to forecast.
    """
    cols = [str(c) for c in df.columns]
    if {"unique_id", "ds", "y"} <= set(cols):
        return dict(NIXTLA)
    lower = {c.strip().lower(): c for c in cols}
    date = next((lower[n] for n in DATE_NAMES if n in lower), None)
    if date is None:
        date = next(
            (c for c in cols if not pd.api.types.is_numeric_dtype(df[c]) and df[c].notna().any()),
            None,
        )
    numeric = [
        c
        for c in cols
        if c != date
        and pd.api.types.is_numeric_dtype(df[c])
        and not pd.api.types.is_bool_dtype(df[c])
    ]
    if not numeric:
        raise DataError(
            f"no numeric column to forecast among {', '.join(cols)}; the values must be numbers."
        )
    target: str | list[str] = numeric[0] if len(numeric) == 1 else numeric
    return {"target": target, "date": date, "id": None}


def parse_dates(df: pd.DataFrame, col: str) -> pd.DatetimeIndex | np.ndarray:
    """Column `col` as a DatetimeIndex (time zones dropped), or int64 steps if it holds integers.

    Raises:
        DataError: a value that is not a date (its data row and value are named), or a missing one.
    """
    s = df[col]
    if pd.api.types.is_integer_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.to_numpy(dtype=np.int64)
    try:
        dates = pd.to_datetime(s)
    except (ValueError, TypeError, OverflowError):
        row = _first_bad_date(s)
        raise DataError(
            f"date column {col!r} has a value that is not a date in data row {row + 1} "
            f"({s.iloc[row]!r}); use ISO dates like 2024-01-31, or integer steps."
        ) from None
    if dates.isna().any():
        row = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise DataError(
            f"date column {col!r} has a missing date in data row {row + 1}; drop or fill it."
        )
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    return pd.DatetimeIndex(dates)


def _first_bad_date(s: pd.Series) -> int:
    """The position of the first value of `s` that pandas cannot read as a date on its own."""
    for i, v in enumerate(s):
        try:
            pd.Timestamp(v)
        except (ValueError, TypeError, OverflowError):
            return i
    return 0


def _regular_range(index) -> pd.DatetimeIndex | np.ndarray:
    """The regular time axis from `index`'s first to last point at its most common spacing."""
    if not isinstance(index, pd.DatetimeIndex):
        gaps = np.diff(index)
        step = int(pd.Series(gaps).mode().iloc[0])
        return np.arange(index[0], index[-1] + 1, step, dtype=np.int64)
    days = pd.Series(np.diff(index.asi8)).mode().iloc[0] / 86_400e9
    if 28 <= days <= 31:
        freq = "MS" if (index.day == 1).all() else "ME"
    elif 89 <= days <= 92:
        freq = "QS" if (index.day == 1).all() else "QE"
    elif 365 <= days <= 366:
        freq = "YS" if (index.day == 1).all() else "YE"
    else:
        freq = pd.Timedelta(days=days)
    return pd.date_range(index[0], index[-1], freq=freq)


def fill_gaps(
    df: pd.DataFrame, date: str | None, columns: Sequence[str], how: str | None
) -> pd.DataFrame:
    """With ``how="interpolate"``: insert the dates missing from `df`'s regular frequency (the
    most common spacing) and fill missing values of `columns` by linear interpolation in time
    order (the ends by the nearest value). ``how=None`` returns `df` as it is.

    Raises:
        OptionError: an unknown `how`. DataError: dates not on one regular spacing.
    """
    if how not in FILLS:
        raise OptionError(f"fill must be None or 'interpolate', got {how!r}.")
    if how is None:
        return df
    df = df.copy()
    if date is not None and len(df) >= 2:
        index = parse_dates(df, date)
        order = np.argsort(np.asarray(index), kind="stable")
        df, index = df.iloc[order].reset_index(drop=True), index[order]
        full = _regular_range(index)
        if not pd.Index(index).isin(full).all():
            raise DataError(
                f"the dates in column {date!r} do not fall on one regular spacing, so the gaps "
                "cannot be filled; resample the data to a regular frequency first."
            )
        if len(full) > len(index):
            df = df.set_index(pd.Index(np.asarray(index))).reindex(np.asarray(full))
            df[date] = np.asarray(full)
            df = df.reset_index(drop=True)
    for c in columns:  # a non-numeric column is left for the validation to report
        if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]):
            df[c] = df[c].astype(np.float64).interpolate(limit_direction="both")
    return df

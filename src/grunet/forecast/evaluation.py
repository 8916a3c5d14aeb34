"""The corpus benchmark: hold out each series' last H points, fit grunet and every baseline, rank.

``evaluate(paths)`` reads every series in the given files and folders (columns recognised as in
`grunet.forecast.inputs.guess_schema`, gaps interpolated), holds out the last H points of each,
fits grunet's default ``Forecaster(horizon=H, quantiles=(0.1, 0.9))`` (and any `variants`) and
the statsforecast baselines on the rest, and scores the held-out points. The result is a
`Leaderboard` (see `grunet.forecast.leaderboard` for the summary and its files).

Default horizon by frequency (the M3/M4 conventions): yearly 6, quarterly 8, monthly 18,
weekly 13, daily and business-daily 14, hourly and finer 48, integer steps (undated) 8.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import Progress

from grunet.errors import DataError, OptionError
from grunet.forecast import metrics as M
from grunet.forecast.baselines import LABELS, forecast_baseline
from grunet.forecast.config import quantile_column
from grunet.forecast.forecaster import Forecaster
from grunet.forecast.frame import Panel, Series, _base_alias, load_panel, season_length
from grunet.forecast.inputs import READERS, guess_schema, read_table
from grunet.forecast.leaderboard import Leaderboard, write_outputs

HORIZONS = {"Y": 6, "A": 6, "Q": 8, "M": 18, "W": 13, "D": 14, "B": 14, "C": 14}
SUB_DAILY_HORIZON, STEPS_HORIZON = 48, 8
MIN_TRAIN = 10  # fewest training points evaluate accepts (besides at least H of them)
BASELINES = ("seasonal_naive", "naive", "drift", "ets", "arima", "theta")
QUANTILES = (0.1, 0.9)
REFERENCE = "AutoETS"
TIME_LIMIT = 120.0  # seconds a baseline may take on one series before it counts as timed out


def default_horizon(freq: str | None) -> int:
    """The held-out length H for a frequency (see the module docstring)."""
    if freq is None:
        return STEPS_HORIZON
    _, base = _base_alias(freq)
    for key in (base, base.rstrip("SE") or base, base[:1]):  # QS-OCT -> Q, YE -> Y, BMS -> M
        if key in HORIZONS:
            return HORIZONS[key]
    return SUB_DAILY_HORIZON


def check_horizon(horizon: Any) -> int | None:
    """`horizon` as a positive int (None / "auto": by frequency), or an OptionError."""
    if horizon is None or (isinstance(horizon, str) and horizon.strip().lower() == "auto"):
        return None
    value = None
    if isinstance(horizon, (int, np.integer)) and not isinstance(horizon, bool):
        value = int(horizon)
    elif isinstance(horizon, str) and horizon.strip().isdigit():
        value = int(horizon.strip())
    if value is None or value < 1:
        raise OptionError(
            f"horizon must be a positive integer (or 'auto' for the default by frequency), "
            f"got {horizon!r}."
        )
    return value


def data_files(paths: Iterable[str | Path]) -> list[Path]:
    """The data files named by `paths`: files as given, folders expanded to their .csv/.parquet
    files (sorted, not recursive).

    Raises:
        DataError: nothing given, a path that does not exist, or a folder without data files.
    """
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in READERS and f.is_file())
            if not found:
                raise DataError(
                    f"the folder {p} holds no .csv or .parquet files; give a folder of series "
                    "files, or the files themselves."
                )
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            raise DataError(f"no file or folder at {p}; check the path.")
    if not files:
        raise DataError("no data given; name one or more files or folders of series.")
    return files


@dataclass
class Task:
    """One series to forecast: its name, training part, held-out actuals, season length."""

    name: str
    train: Series
    actual: np.ndarray  # (H,)
    panel: Panel  # the training part alone, as the Forecaster takes it
    m: int


def _tasks(path: Path, horizon: int | None) -> list[Task]:
    df = read_table(path)
    try:
        panel = load_panel(df, **guess_schema(df), fill="interpolate")
    except DataError as e:
        raise DataError(f"{path.name}: {e}") from None
    h = default_horizon(panel.freq) if horizon is None else horizon
    m = season_length(panel.freq)
    tasks = []
    for s in panel.series:
        name = path.stem if s.id is None else f"{path.stem}/{s.id}"
        need = h + max(h, MIN_TRAIN)
        if len(s) < need:
            raise DataError(
                f"{name} has {len(s)} points; holding out the last {h} needs at least {need} "
                f"({max(h, MIN_TRAIN)} to fit on), so give a longer series or a smaller horizon."
            )
        train = s.head(len(s) - h)
        one = Panel([train], panel.freq, panel.step, panel.schema)
        tasks.append(Task(name, train, s.target[len(s) - h :], one, m))
    return tasks


def _grunet(task: Task, horizon: int, options: Mapping[str, Any], fit_options, seed):
    kwargs = {"horizon": horizon, "quantiles": QUANTILES, **options}
    if seed is not None:
        kwargs.setdefault("seed", seed)
    f = Forecaster(**kwargs).fit(task.panel, **fit_options)
    pred = f.predict()
    lo, hi = (quantile_column(q) for q in QUANTILES)
    if lo in pred.columns and hi in pred.columns:
        return pred["forecast"].to_numpy(), pred[lo].to_numpy(), pred[hi].to_numpy()
    return pred["forecast"].to_numpy(), None, None


def _row(task: Task, method: str, mean, lo, hi, seconds: float, error: str) -> dict[str, Any]:
    y, train = task.actual, task.train.target
    m = task.m if len(train) > task.m else 1
    return {
        "series": task.name,
        "method": method,
        "n_train": len(train),
        "horizon": len(y),
        "season_length": task.m,
        "mase": M.mase(y, mean, train, m),
        "smape": M.smape(y, mean),
        "coverage": np.nan if lo is None else M.coverage(y, lo, hi),
        "fit_seconds": seconds,
        "error": error,
    }


def evaluate(
    paths: Iterable[str | Path] | str | Path,
    horizon: int | str | None = None,
    out: str | Path | None = None,
    variants: Mapping[str, Mapping[str, Any]] | None = None,
    baselines: Iterable[str] = BASELINES,
    fit_options: Mapping[str, Any] | None = None,
    seed: int | None = 0,
    progress: bool = True,
    time_limit: float | None = TIME_LIMIT,
) -> Leaderboard:
    """Benchmark grunet against the statsforecast baselines on every series in `paths`.

    Every series' last H points are held out; each method fits on the rest (nothing else is
    seen) and forecasts H steps with a 80% interval. A method that fails on a series (e.g. one too
    short for it) is scored there with the seasonal naive forecast, and its ``error`` says why.

    Args:
        paths: files (.csv/.parquet) and folders of them; a wide file gives one series per column.
        horizon: H, a positive integer, or None / "auto" for the default by frequency.
        out: folder for leaderboard.csv, summary.csv, forecasts.csv, leaderboard.md and
            leaderboard.png (created; files in it are replaced), or None to write nothing. They
            are rewritten after every series, so a run stopped early keeps the series it scored.
        variants: grunet rows, label -> extra Forecaster arguments (default ``{"grunet": {}}``:
            the defaults), e.g. ``{"grunet": {}, "GRU alone": {"combine": False}}``.
        baselines: names from `grunet.forecast.baselines.MODELS`; AutoETS is always included
            (the reference of the relative MASE) and seasonal naive (the fallback).
        fit_options: arguments of ``Forecaster.fit`` (e.g. ``{"epochs": 2}`` for a quick run).
        seed: the Forecaster's seed (for repeatable runs), unless a variant sets its own.
        progress: show a progress bar over series (rich, on stderr).
        time_limit: seconds each baseline may take per series (None: no limit); one that runs
            past it is scored with the seasonal naive forecast and its ``error`` says "timed out"
            (statsforecast's AutoARIMA at season length 48 does not finish in minutes).

    Returns:
        Leaderboard with one row per (series, method) and the summary per method.

    Raises:
        DataError: no data files, unreadable files or dates, a series too short for the horizon.
        OptionError: a horizon that is not a positive integer.
    """
    h = check_horizon(horizon)
    files = data_files([paths] if isinstance(paths, (str, Path)) else paths)
    tasks = [t for f in files for t in _tasks(f, h)]
    variants = dict(variants) if variants else {"grunet": {}}
    names = list(dict.fromkeys(["seasonal_naive", "ets", *baselines]))
    fit_options = dict(fit_options or {})
    rows, forecasts = [], []
    with _bar(progress, len(tasks)) as advance:
        for task in tasks:
            H = len(task.actual)
            by_method: dict[str, tuple] = {}
            for name in names:
                t0 = time.perf_counter()
                try:
                    b = forecast_baseline(
                        name, task.train.target, H, task.m, level=80, time_limit=time_limit
                    )
                    by_method[LABELS[name]] = (b.mean, b.lower, b.upper, "")
                except DataError as e:
                    by_method[LABELS[name]] = (None, None, None, str(e))
                by_method[LABELS[name]] += (time.perf_counter() - t0,)
            for label, options in variants.items():
                t0 = time.perf_counter()
                try:
                    mean, lo, hi = _grunet(task, H, options, fit_options, seed)
                    by_method[label] = (mean, lo, hi, "", time.perf_counter() - t0)
                except DataError as e:
                    by_method[label] = (None, None, None, str(e), time.perf_counter() - t0)
            fallback = by_method[LABELS["seasonal_naive"]]
            for method in [*variants, *(LABELS[n] for n in names)]:
                mean, lo, hi, error, seconds = by_method[method]
                if mean is None:
                    mean, lo, hi = fallback[:3]
                rows.append(_row(task, method, mean, lo, hi, seconds, error))
                forecasts.append(
                    pd.DataFrame(
                        {
                            "series": task.name,
                            "method": method,
                            "step": np.arange(1, H + 1),
                            "actual": task.actual,
                            "forecast": mean,
                            "lo80": np.full(H, np.nan) if lo is None else lo,
                            "hi80": np.full(H, np.nan) if hi is None else hi,
                        }
                    )
                )
            if out is not None:  # after every series, so a run cut short keeps what it scored
                write_outputs(_board(rows, forecasts, variants), Path(out))
            advance(task.name)
    return _board(rows, forecasts, variants)


def _board(rows: list[dict], forecasts: list[pd.DataFrame], variants: Mapping) -> Leaderboard:
    return Leaderboard(
        pd.DataFrame(rows),
        pd.concat(forecasts, ignore_index=True),
        grunet=list(variants),
        reference=REFERENCE,
    )


class _bar:
    """A rich progress bar over series (or nothing); ``advance(name)`` after each series. When
    stderr is not a terminal (a log file), one line per series instead."""

    def __init__(self, show: bool, total: int) -> None:
        self.show, self.total, self.progress, self.done = show, total, None, 0

    def __enter__(self):
        if not self.show:
            return lambda name: None
        console = Console(stderr=True)
        if not console.is_terminal:

            def line(name: str) -> None:
                self.done += 1
                console.print(f"evaluated {name} ({self.done}/{self.total})", highlight=False)

            return line
        self.progress = Progress(console=console, transient=True)
        self.progress.start()
        task = self.progress.add_task("evaluating", total=self.total)
        return lambda name: self.progress.update(task, advance=1, description=f"evaluated {name}")

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()

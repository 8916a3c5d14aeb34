"""Rolling-origin backtest of a Forecaster against the baselines, on the same folds.

Fold k of a series of N steps trains on ``[0, cut_k)`` (scalers included) and is scored on
``[cut_k, cut_k + H)``. With ``refit=True`` the network is trained afresh (same config and seed)
for every fold; with ``refit=False`` it is trained once on the first fold's training part and
then forecasts later folds from their own history. Baselines (statsforecast, see
`grunet.forecast.baselines`) see exactly the training part, and their intervals are scored beside
the network's: the baseline interval of nominal coverage ``hi - lo`` fills ``coverage_<lo>-<hi>``.
The forecaster is used through its public methods only (``from_config``, ``fit``, ``predict``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from grunet.errors import DataError, OptionError
from grunet.forecast import metrics as M
from grunet.forecast.baselines import forecast_baseline, resolve
from grunet.forecast.config import quantile_column
from grunet.forecast.frame import Panel, load_panel, season_length
from grunet.forecast.windows import rolling_origins

DEFAULT_BASELINES = ("naive", "seasonal_naive", "drift", "ets", "theta", "arima")
MODEL = "grunet"
_FIT_KEYS = ("val_size", "epochs", "batch_size", "early_stopping", "verbose", "callbacks")
_SCHEMA_KEYS = ("target", "date", "id", "covariates")


def markdown_table(df: pd.DataFrame, floatfmt: str = ".3f", index: bool = True) -> str:
    """A GitHub markdown table of `df` (numbers formatted with `floatfmt`)."""
    cols = ([str(df.index.name or "")] if index else []) + [str(c) for c in df.columns]

    def fmt(v) -> str:
        if isinstance(v, (float, np.floating)):
            return "–" if np.isnan(v) else format(v, floatfmt)
        return str(v)

    rows = [
        ([str(i)] if index else []) + [fmt(v) for v in row]
        for i, row in zip(df.index, df.itertuples(index=False), strict=False)
    ]
    lines = [
        "| " + " | ".join(cols) + " |",
        "|" + "|".join("---" if j == 0 and index else "---:" for j in range(len(cols))) + "|",
    ]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


@dataclass
class BacktestResult:
    """Per-fold scores, overall scores and every forecast of a backtest.

    Attributes:
        scores: one row per (model, fold, id): cutoff and each metric.
        overall: one row per model: each metric averaged over folds and series.
        forecasts: one row per (fold, id, date): actual, each model's forecast, grunet's quantiles.
        season_length: m used by MASE and the seasonal baselines. horizon: steps scored per fold.
    """

    scores: pd.DataFrame
    overall: pd.DataFrame
    forecasts: pd.DataFrame
    season_length: int
    horizon: int

    @property
    def metrics(self) -> list[str]:
        return list(self.overall.columns)

    def to_markdown(self, floatfmt: str = ".3f") -> str:
        return markdown_table(self.overall, floatfmt)


def _cuts(panel: Panel, horizon: int, folds, start, stride, min_train: int) -> list[list[int]]:
    cuts = []
    for s in panel.series:
        first = start
        if start is not None and not isinstance(start, (int, np.integer)):
            if not isinstance(s.index, pd.DatetimeIndex):
                raise DataError(
                    "start is a date, but the data has integer steps; give start as a step number."
                )
            first = int(np.searchsorted(s.index, pd.Timestamp(start)))
        try:
            cuts.append(rolling_origins(len(s), horizon, folds, first, stride, min_train))
        except DataError as e:
            name = f"series {s.id!r}: " if s.id is not None else ""
            raise DataError(name + str(e)) from None
    return cuts


def _score(actual, forecast, train, m: int) -> dict[str, float]:
    return {
        "mae": M.mae(actual, forecast),
        "rmse": M.rmse(actual, forecast),
        "mape": M.mape(actual, forecast),
        "smape": M.smape(actual, forecast),
        "mase": M.mase(actual, forecast, train, m if len(train) > m else 1),
    }


def backtest(
    forecaster,
    data,
    folds: int | None = None,
    start=None,
    stride: int | None = None,
    horizon: int | None = None,
    refit: bool = True,
    baselines: Sequence[str] = DEFAULT_BASELINES,
    on_fold: Callable[[int, int], None] | None = None,
    **kwargs: Any,
) -> BacktestResult:
    """Rolling-origin evaluation of `forecaster` and `baselines` on the same folds.

    Args:
        forecaster: a Forecaster (its config is reused; a fitted one also lends its columns and
            training settings).
        data: a DataFrame or a CSV/Parquet path.
        folds: K folds ending at each series' end. start: first cut-off (a step, negative from
            the end, or a date); with folds, K folds from it. stride: steps between cut-offs
            (default the horizon). horizon: steps scored per fold (default the forecaster's).
        refit: retrain the network for each fold (True) or train once on the first fold.
        baselines: names from grunet.forecast.baselines.MODELS (or statsforecast class names).
        on_fold: called with (fold index, number of folds) after each fold (progress).
        **kwargs: column names (target, date, id, covariates) and fit settings (epochs,
            batch_size, val_size, early_stopping, verbose, callbacks).

    Returns:
        BacktestResult. For quantile forecasters, ``pinball_q<level>`` per quantile and
        ``coverage_<lo>-<hi>`` (the empirical coverage of each symmetric interval) are added.
    """
    unknown = set(kwargs) - set(_FIT_KEYS) - set(_SCHEMA_KEYS)
    if unknown:
        raise OptionError(f"backtest got unknown option(s) {', '.join(sorted(unknown))}.")
    schema = forecaster.schema.to_dict() if forecaster.schema else {}
    schema.update({k: kwargs[k] for k in _SCHEMA_KEYS if k in kwargs})
    fit_kw = {
        **{k: v for k, v in forecaster.fit_kwargs.items() if k in _FIT_KEYS},
        **{k: kwargs[k] for k in _FIT_KEYS if k in kwargs},
    }
    panel = load_panel(data, **schema)
    c = forecaster.config
    horizon = c.horizon if horizon is None else int(horizon)
    if getattr(c, "strategy", "direct") == "direct" and horizon > c.horizon:
        raise OptionError(
            f"backtest horizon {horizon} exceeds the forecaster's horizon {c.horizon}."
        )
    names = [resolve(b) for b in baselines]
    m = c.season_length or season_length(panel.freq)
    lookback = c.lookback if isinstance(c.lookback, (int, np.integer)) else 1
    cuts = _cuts(panel, horizon, folds, start, stride, min_train=lookback + c.model_horizon)
    n_folds = max(len(cs) for cs in cuts)
    quantiles = c.quantiles or []
    pairs = M.interval_pairs(quantiles)

    score_rows, forecast_rows = [], []
    model = None
    for k in range(n_folds):
        members = [(s, cs[k]) for s, cs in zip(panel.series, cuts, strict=False) if k < len(cs)]
        history = Panel([s.head(cut) for s, cut in members], panel.freq, panel.step, panel.schema)
        if model is None or refit:
            model = type(forecaster).from_config(forecaster.get_config())
            model.fit(history, **fit_kw)
            pred = model.predict(horizon)  # from the end of `history`, the data just fit
        else:
            pred = model.predict(horizon, data=history)
        for s, cut in members:
            fc = pred if s.id is None else pred[pred["id"] == s.id]
            train, actual = s.target[:cut], s.target[cut : cut + horizon]
            preds = {MODEL: fc["forecast"].to_numpy()}
            bounds = {MODEL: {q: fc[quantile_column(q)].to_numpy() for q in quantiles}}
            for name in names:
                level = round(100 * (pairs[0][1] - pairs[0][0])) if pairs else 80
                b = forecast_baseline(name, train, horizon, m, level=level)
                preds[name] = b.mean
                if pairs:
                    bounds[name] = {pairs[0][0]: b.lower, pairs[0][1]: b.upper}
            for name, f in preds.items():
                row = {
                    "model": name,
                    "fold": k,
                    "id": s.id,
                    "cutoff": s.index[cut],
                    **_score(actual, f, train, m),
                }
                if name == MODEL:
                    for q in quantiles:
                        row[f"pinball_q{q:g}"] = M.pinball_loss(actual, bounds[MODEL][q], q)
                for lo, hi in pairs:
                    b = bounds.get(name, {})
                    row[f"coverage_{lo:g}-{hi:g}"] = (
                        M.coverage(actual, b[lo], b[hi]) if lo in b else np.nan
                    )
                score_rows.append(row)
            frame = {
                "fold": k,
                "id": s.id,
                "date": s.index[cut : cut + horizon],
                "actual": actual,
                **preds,
            }
            frame.update({f"{MODEL}_q{q:g}": bounds[MODEL][q] for q in quantiles})
            forecast_rows.append(pd.DataFrame(frame))
        if on_fold is not None:
            on_fold(k, n_folds)

    scores = pd.DataFrame(score_rows)
    metric_cols = [col for col in scores.columns if col not in ("model", "fold", "id", "cutoff")]
    order = [MODEL, *names]
    overall = scores.groupby("model", sort=False)[metric_cols].mean().reindex(order)
    overall = overall.dropna(axis=1, how="all") if len(order) == 1 else overall
    overall.index.name = "model"
    forecasts = pd.concat(forecast_rows, ignore_index=True)
    if forecasts["id"].isna().all():
        forecasts = forecasts.drop(columns="id")
        scores = scores.drop(columns="id")
    return BacktestResult(scores, overall, forecasts, m, horizon)

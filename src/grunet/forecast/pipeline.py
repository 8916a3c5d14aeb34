"""The automatic pipeline over a Panel: one `auto.fit_series` per series, the forecast frame,
and the text of `Forecaster.describe`.

Legend:  S: series  H: horizon  Q: quantiles
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from grunet.errors import DataError
from grunet.forecast.auto import AutoOptions, describe_state, fit_series, forecast_series
from grunet.forecast.config import ForecasterConfig, quantile_column
from grunet.forecast.ensemble import Ensemble
from grunet.forecast.frame import Panel, future_index
from grunet.forecast.seasonality import long_season_for, season_length_for
from grunet.forecast.state import AutoSeriesState


def options(config: ForecasterConfig, freq: str | None) -> AutoOptions:
    """The automatic pipeline's options from a Forecaster config and the data's frequency."""
    c = config
    return AutoOptions(
        horizon=c.horizon,
        season_length=c.season_length or season_length_for(freq),
        lookback=c.lookback,
        log=c.log,
        n_models=c.n_models,
        combine=c.combine,
        cell=c.cell,
        units=c.units,
        learning_rate=float(c.learning_rate or 3e-3),
        train_steps=c.train_steps,
        seed=0 if c.seed is None else c.seed,
        long_season=0 if c.season_length else long_season_for(freq),
    )


def _stamp(value) -> Any:
    return value.isoformat() if isinstance(value, pd.Timestamp) else int(value)


def fit_panel(
    panel: Panel, config: ForecasterConfig
) -> tuple[list[AutoSeriesState], list[Ensemble]]:
    """Fit the pipeline to every series of `panel` (its target only)."""
    if panel.schema.covariates:
        raise DataError(
            "the automatic pipeline forecasts from the target alone, but covariates were given "
            f"({', '.join(panel.schema.covariates)}); drop them or use pipeline='plain'."
        )
    opts = options(config, panel.freq)
    states, ensembles = [], []
    for s in panel.series:
        state, ens = fit_series(s.target, opts, s.id, _stamp(s.index[-1]))
        states.append(state)
        ensembles.append(ens)
    return states, ensembles


def members_for(
    panel: Panel, states: list[AutoSeriesState], ensembles: list[Ensemble]
) -> tuple[list[AutoSeriesState], list[Ensemble]]:
    """The fitted (state, ensemble) of every series of `panel`, which must be the data the
    pipeline was fit on (same ids, same length, same last value): it forecasts from there."""
    known = {st.id: (st, ens) for st, ens in zip(states, ensembles, strict=True)}
    out_states, out_ens = [], []
    for s in panel.series:
        st, ens = known.get(s.id, (None, None))
        if st is None or ens is None or len(s) != st.n_train or s.target[-1] != st.history[-1]:
            name = "the series" if s.id is None else f"series {s.id!r}"
            raise DataError(
                f"{name} is not the data this forecaster was fit on; the automatic pipeline "
                "forecasts from the end of its training data: fit it on this data (seconds), or "
                "use pipeline='plain' to forecast new data with one fitted network."
            )
        out_states.append(st)
        out_ens.append(ens)
    return out_states, out_ens


def ensemble_of(state: AutoSeriesState, config: ForecasterConfig) -> Ensemble:
    """An untrained ensemble with the state's members (for loading weights into)."""
    specs = list(zip(state.lookbacks, state.seeds, strict=True))
    lr = float(config.learning_rate or 3e-3)
    return Ensemble(specs, config.horizon, config.cell, config.units, lr)


def predict_frame(
    states: list[AutoSeriesState],
    ensembles: list[Ensemble],
    config: ForecasterConfig,
    horizon: int,
    freq: str | None,
    step: int,
) -> pd.DataFrame:
    """The tidy forecast frame (``id``, ``date``, ``forecast``, ``q<level>``) of every series."""
    parts = []
    for st, ens in zip(states, ensembles, strict=True):
        values = forecast_series(st, ens, horizon, config.quantiles)  # (1 + Q, horizon)
        last = pd.DatetimeIndex([pd.Timestamp(st.last_index)]) if freq else [st.last_index]
        part: dict[str, Any] = {} if st.id is None else {"id": [st.id] * horizon}
        part["date"] = future_index(np.asarray(last) if not freq else last, horizon, freq, step)
        part["forecast"] = values[0]
        for j, q in enumerate(config.quantiles or []):
            part[quantile_column(q)] = values[1 + j]
        parts.append(pd.DataFrame(part))
    return pd.concat(parts, ignore_index=True)


def describe(states: list[AutoSeriesState], config: ForecasterConfig, freq: str | None) -> str:
    """What the automatic pipeline chose for each series, and why."""
    c = config
    m = c.season_length or season_length_for(freq)
    how = "set by the user" if c.season_length else f"from the frequency {freq or '(undated)'}"
    lines = [
        f"Forecaster: automatic pipeline, horizon {c.horizon}, season length {m} ({how}).",
    ]
    return "\n".join(lines + [describe_state(st) for st in states])

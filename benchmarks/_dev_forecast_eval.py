"""Development check of the automatic forecasting pipeline on ../shared/data/forecast-dev.

For every series: hold out the last H points (monthly 18, quarterly 8, annual 6, daily 14,
half-hourly 48, undated 8), fit ``Forecaster(horizon=H, quantiles=[0.1, 0.9], seed=0)`` on the
rest, and score MASE (seasonal-naive scaling, m from the frequency) of the default forecast, of
the GRU ensemble alone (the same fit, combination weight 1 on the GRU), of other combination
rules from the same fit's fold errors (trim: members within 2x the best; trim15: 1.5x; inv:
inverse-MASE weights; best: the best member alone), of seasonal naive and of statsforecast's
AutoETS; 80% interval coverage; fit seconds.

    PYTHONPATH=src python benchmarks/_dev_forecast_eval.py [--data DIR] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from grunet.forecast import Forecaster
from grunet.forecast.auto import forecast_series
from grunet.forecast.frame import load_panel
from grunet.forecast.statistical import combination_weights, scaled_error, stat_forecast

HORIZON = {12: 18, 4: 8, 1: 6, 7: 14, 48: 48, 5: 14}


def load_corpus(folder: Path):
    """(name, DataFrame date/value) per series; gaps interpolated, wide files split."""
    for path in sorted(folder.glob("*.csv")):
        df = pd.read_csv(path)
        date = df.columns[0]
        for col in df.columns[1:]:
            part = df[[date, col]].rename(columns={date: "date", col: "value"})
            part["value"] = part["value"].interpolate(limit_direction="both")
            if not np.issubdtype(part["date"].dtype, np.number):
                part["date"] = pd.to_datetime(part["date"])
            name = path.stem if len(df.columns) == 2 else f"{path.stem}:{col}"
            yield name, part


def horizon_for(freq, m: int) -> int:
    if freq is None:
        return 14 if m == 1 else 8
    if freq.startswith(("Y", "A")):
        return 6
    return HORIZON.get(m, 14)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/work/shared/data/forecast-dev")
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--save", help="folder to save each fitted forecaster in (one per series)")
    args = ap.parse_args()
    rows = []
    for name, df in load_corpus(Path(args.data)):
        if args.only and not any(o in name for o in args.only):
            continue
        panel = load_panel(df, target="value", date="date")
        f0 = Forecaster(horizon=1)
        f0.freq = panel.freq
        m = f0.season_length
        H = horizon_for(panel.freq, m) if panel.freq else (8 if len(df) < 200 else 14)
        train, test = df.iloc[:-H], df["value"].to_numpy()[-H:]
        y = train["value"].to_numpy(dtype=float)
        t = time.perf_counter()
        f = Forecaster(horizon=H, quantiles=[0.1, 0.9], seed=0).fit(train)
        secs = time.perf_counter() - t
        fc = f.predict()
        if args.save:
            f.save(Path(args.save) / name.replace(":", "_"), overwrite=True)
        point, lo, hi = (fc[c].to_numpy() for c in ("forecast", "q0.1", "q0.9"))
        st = f.auto_states[0]
        alone = forecast_series(
            dataclasses.replace(st, weights={"gru": 1.0}), f.ensembles[0], H, [0.1, 0.9]
        )
        alt = {}
        errs = {k: v for k, v in st.val_errors.items() if k in st.weights}
        if len(errs) > 1:
            best = min(errs.values())
            rules = {
                "trim": combination_weights(errs),  # the pipeline's combine="validation"
                "trim15": {k: float(v <= 1.5 * best) for k, v in errs.items()},
                "inv": {k: 1 / max(v, 1e-9) for k, v in errs.items()},
                "best": {k: float(v == best) for k, v in errs.items()},
            }
            for rule, w in rules.items():
                tot = sum(w.values())
                w = {k: v / tot for k, v in w.items()}
                alt[rule] = forecast_series(
                    dataclasses.replace(st, weights=w), f.ensembles[0], H, [0.1, 0.9]
                )[0]
        snaive = y[-m:][np.arange(H) % m] if m > 1 else np.full(H, y[-1])
        ets = stat_forecast("ets", y, H, m)[0]
        r = {
            "series": name,
            "n": len(y),
            "H": H,
            "m": m,
            "mase": scaled_error(test, point, y, m),
            "gru": scaled_error(test, alone[0], y, m),
            "snaive": scaled_error(test, snaive, y, m),
            "ets": scaled_error(test, ets, y, m),
            "cover": float(np.mean((test >= lo) & (test <= hi))),
            "cover_gru": float(np.mean((test >= alone[1]) & (test <= alone[2]))),
            "secs": secs,
            **{r: scaled_error(test, v, y, m) for r, v in alt.items()},
            "w": " ".join(f"{k}{v:.2f}" for k, v in st.weights.items()),
            "log": st.log,
            "des": st.deseasonalise,
        }
        rows.append(r)
        print(
            f"{name:32s} n={r['n']:5d} H={H:3d} m={m:3d} mase={r['mase']:.3f} gru={r['gru']:.3f} "
            f"snaive={r['snaive']:.3f} ets={r['ets']:.3f} cov={r['cover']:.2f} "
            f"covg={r['cover_gru']:.2f} {secs:5.1f}s log={r['log']} des={r['des']} {r['w']}",
            flush=True,
        )
    t = pd.DataFrame(rows)
    print()
    print(t.round(3).to_string(index=False))
    for col in [c for c in ("mase", "gru", "trim", "trim15", "inv", "best") if c in t]:
        v = t[col].fillna(t["mase"])  # no rule without folds: the default's forecast
        beats = float(np.mean(v < t["snaive"]))
        rel = float(np.exp(np.mean(np.log(v / t["ets"]))))
        print(f"{col}: beats seasonal naive on {beats:.0%}, geomean MASE / AutoETS {rel:.3f}")
    n_pts = t["H"].sum()
    print(f"80% coverage (pooled over points): default {np.sum(t['cover'] * t['H']) / n_pts:.3f}")
    print(
        f"  gru alone {np.sum(t['cover_gru'] * t['H']) / n_pts:.3f} (the default's interval width factor)"
    )
    print(f"fit seconds: median {t['secs'].median():.1f}, max {t['secs'].max():.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

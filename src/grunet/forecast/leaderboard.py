"""The corpus benchmark's result: per-series scores, the summary per method, and its files.

Per series and method: MASE (scaled by the in-sample seasonal naive MAE), sMAPE, the coverage of
the 80% interval, fit seconds. Per method, over the series:

- ``fits``: series where the method gave a forecast itself (else it is scored with seasonal naive);
- ``MASE``, ``sMAPE``: means over series;
- ``rel. MASE``: the geometric mean over series of ``MASE / MASE(AutoETS)`` (below 1: better than
  AutoETS);
- ``beats SeasonalNaive``, ``beats AutoETS``: series where its MASE is strictly lower;
- ``80% coverage``: the fraction of all held-out points inside the 80% interval;
- ``fit s (median)``: the median over series of the seconds to fit and forecast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from grunet.forecast.backtest import markdown_table
from grunet.forecast.plots import plot_leaderboard

SNAIVE = "SeasonalNaive"


@dataclass
class Leaderboard:
    """scores: one row per (series, method). forecasts: one row per (series, method, step)."""

    scores: pd.DataFrame
    forecasts: pd.DataFrame
    grunet: list[str] = field(default_factory=lambda: ["grunet"])
    reference: str = "AutoETS"

    @property
    def methods(self) -> list[str]:
        return list(dict.fromkeys(self.scores["method"]))

    @property
    def series(self) -> list[str]:
        return list(dict.fromkeys(self.scores["series"]))

    def table(self, column: str = "mase") -> pd.DataFrame:
        """`column` per series (rows) and method (columns), in the order evaluated."""
        t = self.scores.pivot(index="series", columns="method", values=column)
        return t.reindex(index=self.series, columns=self.methods)

    def relative(self) -> pd.DataFrame:
        """MASE / MASE of the reference (AutoETS) per series and method."""
        mase = self.table("mase")
        return mase.div(mase[self.reference], axis=0)

    def summary(self) -> pd.DataFrame:
        """One row per method: the columns described in the module docstring."""
        mase, rel = self.table("mase"), self.relative()
        n = len(self.series)
        failed = self.table("error").fillna("").ne("")
        cov = self.scores.assign(hit=self.scores["coverage"] * self.scores["horizon"])
        cov = cov.groupby("method")["hit"].sum(min_count=1) / cov.groupby("method")["horizon"].sum()
        rows = {}
        for method in self.methods:
            r = rel[method].to_numpy(dtype=np.float64)
            r = r[np.isfinite(r) & (r > 0)]
            rows[method] = {
                "fits": f"{n - int(failed[method].sum())}/{n}",
                "MASE": mase[method].mean(),
                "sMAPE": self.table("smape")[method].mean(),
                "rel. MASE": float(np.exp(np.mean(np.log(r)))) if len(r) else np.nan,
                f"beats {SNAIVE}": _wins(mase[method], mase[SNAIVE], n),
                f"beats {self.reference}": _wins(mase[method], mase[self.reference], n),
                "80% coverage": cov.get(method, np.nan),
                "fit s (median)": self.table("fit_seconds")[method].median(),
            }
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index.name = "method"
        return out

    def wins(self) -> pd.DataFrame:
        """For each grunet row: on how many series its MASE is below each baseline's."""
        mase = self.table("mase")
        n = len(self.series)
        baselines = [m for m in self.methods if m not in self.grunet]
        out = pd.DataFrame(
            {b: [_wins(mase[g], mase[b], n) for g in self.grunet] for b in baselines},
            index=pd.Index(self.grunet, name="beats"),
        )
        return out

    def to_markdown(self) -> str:
        """The summary table, the wins table, and the relative MASE per series."""
        rel = self.relative()
        rel.index.name = "series"
        shown = [*self.grunet, *(m for m in self.methods if m not in self.grunet)]
        return "\n\n".join(
            [
                markdown_table(self.summary(), ".3f"),
                markdown_table(self.wins()),
                "MASE relative to AutoETS, per series (below 1 beats AutoETS):",
                markdown_table(rel[[m for m in shown if m != self.reference]], ".2f"),
            ]
        )


def _wins(a: pd.Series, b: pd.Series, n: int) -> str:
    return f"{int((a.to_numpy() < b.to_numpy()).sum())}/{n}"


def write_outputs(board: Leaderboard, out: Path) -> dict[str, Path]:
    """Write leaderboard.csv (per series and method, with ``rel_mase``), summary.csv,
    forecasts.csv, leaderboard.md and leaderboard.png into the folder `out` (created)."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} is a file; give a folder for the leaderboard (--out).")
    out.mkdir(parents=True, exist_ok=True)
    rel = board.relative().stack().rename("rel_mase").reset_index()
    scores = board.scores.merge(rel, on=["series", "method"], how="left")
    paths = {
        "leaderboard": out / "leaderboard.csv",
        "summary": out / "summary.csv",
        "forecasts": out / "forecasts.csv",
        "markdown": out / "leaderboard.md",
        "plot": out / "leaderboard.png",
    }
    scores.to_csv(paths["leaderboard"], index=False)
    board.summary().to_csv(paths["summary"])
    board.forecasts.to_csv(paths["forecasts"], index=False)
    paths["markdown"].write_text(board.to_markdown() + "\n")
    plot_leaderboard(board.relative(), board.grunet, board.reference, paths["plot"])
    return paths

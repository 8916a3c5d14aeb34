import numpy as np
import pytest

from grunet.forecast import metrics as M
from grunet.forecast.baselines import forecast_baseline
from grunet.forecast.compare import compare_cells
from grunet.forecast.plots import plot_compare


def test_compare_cells_runs_every_cell_the_same_way_beside_references(monthly, tmp_path):
    result = compare_cells(
        monthly, date="date", seeds=(0, 1), epochs=2, units=4, lookback=12, horizon=6
    )
    runs = result.runs
    assert len(runs) == 6 and set(runs["cell"]) == {"gru", "lstm", "rnn"}
    params = runs.groupby("cell")["params"].first()
    # Keras counts: GRU 3H(H+I)+6H, LSTM 4H(H+I)+4H, SimpleRNN H(H+I)+H; plus Dense(H -> 6)
    H, dense = 4, 4 * 6 + 6
    assert params["gru"] == 3 * H * (H + 1) + 6 * H + dense
    assert params["lstm"] == 4 * H * (H + 1) + 4 * H + dense
    assert params["rnn"] == H * (H + 1) + H + dense
    assert (runs["fit_seconds"] > 0).all() and (runs["test_mase"] > 0).all()
    # the reference rows are the statsforecast baselines on the same split
    y = monthly["value"].to_numpy()
    want = M.mase(y[-6:], forecast_baseline("ets", y[:-6], 6, 12).mean, y[:-6], 12)
    assert result.table.loc["AutoETS", "test_mase"] == pytest.approx(want)
    assert list(result.table.index) == ["gru", "lstm", "rnn", "SeasonalNaive", "AutoETS"]
    md = result.to_markdown()
    assert md.splitlines()[0] == "| cell | gates | parameters | fit s | test MASE | test sMAPE |"
    assert "| GRU | 3 |" in md and "| LSTM | 4 |" in md and "| SimpleRNN | 1 |" in md
    assert "| SeasonalNaive | – | – |" in md
    refs = result.table.loc[["SeasonalNaive", "AutoETS"], "test_mase"].to_dict()
    plot_compare(runs, tmp_path / "c.png", references=refs)
    assert (tmp_path / "c.png").stat().st_size > 1000
    assert np.isfinite(result.table["test_smape"]).all()

from grunet.forecast.compare import compare_cells
from grunet.forecast.plots import plot_compare


def test_compare_cells_measures_each_cell_under_one_budget(monthly, tmp_path):
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
    assert (runs["sec_per_epoch"] > 0).all() and (runs["test_mase"] > 0).all()
    md = result.to_markdown()
    assert (
        md.splitlines()[0] == "| cell | gates | parameters | train s/epoch | val loss | test MASE |"
    )
    assert "| GRU | 3 |" in md and "| LSTM | 4 |" in md and "| SimpleRNN | 1 |" in md
    plot_compare(runs, tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 1000

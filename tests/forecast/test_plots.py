from grunet.forecast import Forecaster, load_panel
from grunet.forecast.plots import plot_backtest, plot_fit, plot_forecast


def test_plots_draw_and_save(tmp_path, long_table):
    f = Forecaster(lookback=14, horizon=7, units=4, seed=0, quantiles=[0.1, 0.9])
    f.fit(long_table, date="date", id="id", val_size=7, epochs=1)
    panel = load_panel(long_table, date="date", id="id")
    fig = forecast_fig = plot_forecast(f.predict(), panel, tmp_path / "f.png", tail=20)
    assert len(fig.axes) == 2 and any(
        "80% interval" in t.get_text() for t in fig.axes[0].get_legend().get_texts()
    )
    fit_fig = plot_fit(f.fitted_values(long_table), tmp_path / "fit.png")
    result = f.backtest(long_table, folds=2, epochs=1, baselines=("naive", "seasonal_naive"))
    fig = plot_backtest(result, panel, tmp_path / "b.png")
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == [
        "grunet",
        "naive",
        "seasonal_naive",
    ]
    for name in ("f.png", "fit.png", "b.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    # Figures never need a display: plain matplotlib Figures that pyplot does not manage (a
    # pyplot figure gets a figure manager, opens a window under a GUI backend and stays open).
    for figure in (forecast_fig, fit_fig, fig):
        assert figure.canvas.manager is None

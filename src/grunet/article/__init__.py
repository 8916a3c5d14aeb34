"""grunet.article: the article "Gated Recurrent Unit (GRU) Networks in R", end to end in Python.

``run_article`` is what ``grunet demo`` runs: the article's noisy sine (made with R's own RNG),
``scale()``, one-step-ahead pairs, GRU(50) + Dense(1), fit, predict, plot, save. Everything it
does is public API a user can call step by step. ``warmup`` compiles its CPU kernels ahead
(``grunet warmup``, run by ``make install``), so that a first demo starts fitting at once.
"""

from grunet.article.demo import OUTPUTS, build_article_model, run_article
from grunet.article.plots import plot_predictions
from grunet.article.precompile import warmup

__all__ = ["OUTPUTS", "build_article_model", "plot_predictions", "run_article", "warmup"]

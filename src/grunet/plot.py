"""The figures of the article (kept at this path for code written against grunet 0.1).

``plot_history`` lives in ``grunet.models.plots``, ``plot_predictions`` in ``grunet.article``.
"""

from grunet.article.plots import plot_predictions
from grunet.models.plots import plot_history

__all__ = ["plot_history", "plot_predictions"]

"""grunet.data: the article's series, R's scale(), and the article's one-step-ahead pairs.

Examples:
    >>> import grunet as gn
    >>> series = gn.data.load_article_sine()
    >>> scaled = gn.data.scale(series)
    >>> x, y = gn.data.lag_pairs(scaled)
    >>> x.shape, y.shape
    ((99, 1, 1), (99, 1))
"""

from grunet.data.series import (
    Scaled,
    as_array,
    lag_pairs,
    load_article_sine,
    scale,
    sine_wave,
)

__all__ = ["Scaled", "as_array", "lag_pairs", "load_article_sine", "scale", "sine_wave"]

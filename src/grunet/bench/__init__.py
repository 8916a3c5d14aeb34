"""grunet.bench: the benchmarks behind ``grunet bench`` (``cpu``: numba vs torch; ``cuda``: Triton vs cuDNN)."""

import os

# Keras reads its backend once, at import: the parity tests run Keras 3 on torch.
os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("MPLBACKEND", "Agg")

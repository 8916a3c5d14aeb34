import os

import torch

# Keras reads its backend once, at import: the parity tests run Keras 3 on torch.
os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("MPLBACKEND", "Agg")
# Without a GPU the Triton kernels run under the interpreter. Triton reads this when it is first
# imported (Keras's torch backend may import it early), so it is set for the whole session; "auto"
# never picks the interpreter on the CPU, so no other test changes backend because of it.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

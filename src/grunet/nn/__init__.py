"""grunet.nn: torch.nn drop-ins (GRU with both variants, LSTM, RNN, and their cells) over grunet.ops."""

from grunet.nn.cells import GRUCell, LSTMCell, RNNCell
from grunet.nn.modules import GRU, LSTM, RNN

__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNCell"]

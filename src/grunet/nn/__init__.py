"""grunet.nn: torch.nn drop-ins (GRU with both variants, LSTM, RNN) over grunet.ops."""

from grunet.nn.modules import GRU, LSTM, RNN

__all__ = ["GRU", "LSTM", "RNN"]

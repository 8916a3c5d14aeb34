"""grunet.nn modules are drop-ins for torch.nn's."""

import pytest
import torch

import grunet
from grunet.nn.convert import from_torch


@pytest.mark.parametrize("cell", ["GRU", "LSTM", "RNN"])
def test_state_dict_keys_and_shapes_match_torch(cell):
    kw = dict(num_layers=2, bidirectional=True, bias=True)
    ours = getattr(grunet.nn, cell)(3, 5, **kw).state_dict()
    theirs = getattr(torch.nn, cell)(3, 5, **kw).state_dict()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}


def test_no_bias_and_is_a_torch_gru():
    gru = grunet.nn.GRU(3, 5, bias=False)
    assert isinstance(gru, torch.nn.GRU)
    assert set(gru.state_dict()) == {"weight_ih_l0", "weight_hh_l0"}
    out, h = gru(torch.randn(4, 2, 3))
    assert out.shape == (4, 2, 5) and h.shape == (1, 2, 5)


def test_unbatched_input_matches_batched():
    torch.manual_seed(0)
    gru = grunet.nn.GRU(3, 5, num_layers=2, reset_after=False)
    x = torch.randn(7, 3)
    out, h = gru(x)
    out_b, h_b = gru(x.unsqueeze(1))
    assert out.shape == (7, 5) and h.shape == (2, 5)
    torch.testing.assert_close(out, out_b[:, 0])
    torch.testing.assert_close(h, h_b[:, 0])


def test_dropout_between_layers_only_in_training():
    torch.manual_seed(0)
    gru = grunet.nn.GRU(3, 8, num_layers=2, dropout=0.5)
    x = torch.randn(5, 4, 3)
    gru.eval()
    torch.testing.assert_close(gru(x)[0], gru(x)[0])
    gru.train()
    assert not torch.equal(gru(x)[0], gru(x)[0])


def test_repr_mentions_the_variant():
    assert "reset_after=False" in repr(grunet.nn.GRU(2, 3, reset_after=False))


@pytest.mark.parametrize("cell", ["GRU", "LSTM", "RNN"])
@pytest.mark.parametrize(
    ("x", "hx", "error"),
    [
        (torch.randn(2, 3, 4, 3), None, ValueError),  # 4D input
        (torch.randn(5, 2, 4), None, RuntimeError),  # input.size(-1) != input_size
        (torch.randn(5, 2, 3), torch.zeros(1, 3, 5), RuntimeError),  # hidden batch 3, input 2
        (torch.randn(5, 2, 3), torch.zeros(2, 5), RuntimeError),  # 2-D hx for batched input
        (torch.randn(5, 3), torch.zeros(1, 1, 5), RuntimeError),  # 3-D hx for unbatched input
        (torch.randn(0, 2, 3), None, RuntimeError),  # empty sequence
        (torch.randn(5, 2, 3, dtype=torch.float64), None, ValueError),  # dtype mismatch
    ],
)
def test_bad_input_raises_what_torch_raises(cell, x, hx, error):
    """The same exception type and message as torch.nn's module on the same bad input."""
    torch.manual_seed(0)
    theirs = getattr(torch.nn, cell)(3, 5)
    ours = from_torch(theirs)
    if cell == "LSTM" and hx is not None:
        hx = (hx, hx.clone())
    with pytest.raises(error) as want:
        theirs(x, hx)
    with pytest.raises(error) as got:
        ours(x, hx)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("cell", ["GRU", "LSTM", "RNN"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_unbatched_input_and_state_match_torch(cell, batch_first):
    torch.manual_seed(1)
    theirs = getattr(torch.nn, cell)(3, 5, num_layers=2, batch_first=batch_first)
    ours = from_torch(theirs)
    x, h0 = torch.randn(6, 3), torch.randn(2, 5)
    hx = (h0, torch.randn(2, 5)) if cell == "LSTM" else h0
    (o_out, o_h), (t_out, t_h) = ours(x, hx), theirs(x, hx)
    torch.testing.assert_close(o_out, t_out)
    for a, b in zip(
        o_h if cell == "LSTM" else [o_h], t_h if cell == "LSTM" else [t_h], strict=True
    ):
        torch.testing.assert_close(a, b)

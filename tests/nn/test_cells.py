"""grunet.nn cells against torch.nn's: state_dict, init, batched and unbatched steps, gradients,
errors (type and message), double backward, and the GRU variant torch has not (reset_after=False)
against one step of the reference sequence op."""

import pytest
import torch
from torch.func import functional_call

import grunet
from grunet.ops import reference

F64 = torch.float64
CELLS = ["GRUCell", "LSTMCell", "RNNCell"]


def _pair(cell, *args, **kwargs):
    torch.manual_seed(0)
    theirs = getattr(torch.nn, cell)(*args, **kwargs).double()
    ours = getattr(grunet.nn, cell)(*args, **kwargs).double()
    ours.load_state_dict(theirs.state_dict())
    return theirs, ours


def _flat(y):
    return torch.cat(y) if isinstance(y, tuple) else y


@pytest.mark.parametrize("cell", CELLS)
def test_state_dict_and_init_are_torchs(cell):
    ours, theirs = getattr(grunet.nn, cell)(3, 5), getattr(torch.nn, cell)(3, 5)
    assert isinstance(ours, getattr(torch.nn, cell))
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in theirs.state_dict().items()
    }
    bound = 5**-0.5
    assert all(p.abs().max() <= bound for p in ours.parameters())


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
def test_step_equals_torch_outputs_and_gradients(cell, bias, batched, with_state):
    theirs, ours = _pair(cell, 3, 5, bias=bias)
    x = torch.randn(*((4, 3) if batched else (3,)), dtype=F64, requires_grad=True)
    shape = (4, 5) if batched else (5,)
    h = torch.randn(*shape, dtype=F64, requires_grad=True)
    hx = None
    if with_state:
        hx = (h, torch.randn(*shape, dtype=F64)) if cell == "LSTMCell" else h
    results = []
    for m in (theirs, ours):
        y = _flat(m(x, hx))
        w = torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=F64)
        leaves = [x, *m.parameters()] + ([h] if with_state else [])
        results.append((y, torch.autograd.grad((y * w).sum(), leaves)))
    (ty, tg), (oy, og) = results
    torch.testing.assert_close(oy, ty)
    for a, b in zip(og, tg, strict=True):
        torch.testing.assert_close(a, b)


def test_rnn_cell_relu_equals_torch():
    theirs, ours = _pair("RNNCell", 3, 5, nonlinearity="relu")
    x = torch.randn(4, 3, dtype=F64)
    torch.testing.assert_close(ours(x), theirs(x))


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_cell_is_one_step_of_the_gru(reset_after):
    torch.manual_seed(2)
    cell = grunet.nn.GRUCell(3, 5, reset_after=reset_after).double()
    x, h = torch.randn(4, 3, dtype=F64), torch.randn(4, 5, dtype=F64)
    w = (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    _, want = reference.gru(x[None], h, *w, reset_after=reset_after)
    torch.testing.assert_close(cell(x, h), want)
    assert "reset_after=False" in repr(grunet.nn.GRUCell(3, 5, reset_after=False))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(
    ("x", "h", "error"),
    [
        (torch.randn(2, 4), None, RuntimeError),  # input size
        (torch.randn(2, 3), torch.randn(3, 5), RuntimeError),  # batch mismatch
        (torch.randn(2, 3), torch.randn(2, 6), RuntimeError),  # hidden size
        (torch.randn(2, 3, 1), None, ValueError),  # 3-D input
        (torch.randn(2, 3), torch.randn(2, 5, 1), ValueError),  # 3-D hidden
        (torch.randn(2, 3, dtype=F64), None, RuntimeError),  # dtype
    ],
)
def test_bad_input_raises_what_torch_raises(cell, x, h, error):
    torch.manual_seed(3)
    theirs = getattr(torch.nn, cell)(3, 5)
    ours = getattr(grunet.nn, cell)(3, 5)
    hx = (h, torch.randn(h.shape[0], 5)) if cell == "LSTMCell" and h is not None else h
    with pytest.raises(error) as want:
        theirs(x, hx)
    with pytest.raises(error) as got:
        ours(x, hx)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("cell", CELLS)
def test_functional_call_and_gradgradcheck(cell):
    theirs, ours = _pair(cell, 3, 4)
    params = {k: torch.randn_like(v) for k, v in theirs.named_parameters()}
    x = torch.randn(2, 3, dtype=F64, requires_grad=True)
    torch.testing.assert_close(
        _flat(functional_call(ours, params, (x,))), _flat(functional_call(theirs, params, (x,)))
    )
    ours.backend = "reference"  # backend="cpu": test_dropin.py's gradgradcheck covers its step
    assert torch.autograd.gradgradcheck(lambda x: _flat(ours(x)), (x,))

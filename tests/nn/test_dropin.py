"""grunet.nn against torch.nn on the cases torch tests its own RNNs with (test_nn.py, common_modules).

functional_call and parametrizations (the flat weights are refreshed each forward), double
backward (gradgradcheck) on every GRU backend that runs on the CPU, and PackedSequence input
(enforce_sorted True/False, batch_first, bidirectional, multi-layer): outputs, h_n and gradients.
"""

import pytest
import torch
from torch.func import functional_call
from torch.nn.utils.parametrizations import weight_norm
from torch.nn.utils.rnn import pack_padded_sequence, pack_sequence, pad_packed_sequence

import grunet
from grunet.nn.convert import from_torch

F64 = torch.float64
CELLS = ["GRU", "LSTM", "RNN"]


def _pair(cell, *args, **kwargs):
    """(torch module, grunet copy) in float64."""
    theirs = getattr(torch.nn, cell)(*args, **kwargs).double()
    return theirs, from_torch(theirs)


def _state(out):
    """h_n, or h_n and c_n concatenated for an LSTM."""
    _, h = out
    return torch.cat(h) if isinstance(h, tuple) else h


@pytest.mark.parametrize("cell", CELLS)
def test_functional_call_uses_the_given_parameters(cell):
    torch.manual_seed(0)
    theirs, ours = _pair(cell, 3, 4, num_layers=2, bidirectional=True)
    params = {k: torch.randn_like(v, requires_grad=True) for k, v in theirs.named_parameters()}
    x = torch.randn(5, 2, 3, dtype=F64)
    want = functional_call(theirs, params, (x,))
    got = functional_call(ours, params, (x,))
    torch.testing.assert_close(got[0], want[0])
    torch.testing.assert_close(_state(got), _state(want))
    g_want = torch.autograd.grad(want[0].sum(), list(params.values()))
    g_got = torch.autograd.grad(got[0].sum(), list(params.values()))
    for a, b in zip(g_got, g_want, strict=True):
        torch.testing.assert_close(a, b)
    # and the module's own parameters are back in use afterwards
    torch.testing.assert_close(ours(x)[0], theirs(x)[0])


@pytest.mark.parametrize("cell", CELLS)
def test_weight_norm_parametrization_is_used(cell):
    torch.manual_seed(1)
    theirs, ours = _pair(cell, 3, 4)
    weight_norm(theirs, "weight_hh_l0")
    weight_norm(ours, "weight_hh_l0")
    ours.load_state_dict(theirs.state_dict())
    with torch.no_grad():
        theirs.parametrizations.weight_hh_l0.original0.mul_(2.5)
        ours.parametrizations.weight_hh_l0.original0.mul_(2.5)
    x = torch.randn(6, 2, 3, dtype=F64)
    torch.testing.assert_close(ours(x)[0], theirs(x)[0])
    g = ours.parametrizations.weight_hh_l0.original0
    (gg,) = torch.autograd.grad(ours(x)[0].sum(), g)
    (tg,) = torch.autograd.grad(theirs(x)[0].sum(), theirs.parametrizations.weight_hh_l0.original0)
    torch.testing.assert_close(gg, tg)


@pytest.mark.parametrize("backend", ["reference", "cpu"])
@pytest.mark.parametrize("reset_after", [True, False])
def test_gradgradcheck_gru(backend, reset_after):
    """Second derivatives are right (create_graph=True), never silently dropped."""
    torch.manual_seed(2)
    m = grunet.nn.GRU(3, 4, reset_after=reset_after, backend=backend).double()
    x = torch.randn(4, 2, 3, dtype=F64, requires_grad=True)
    h0 = torch.randn(1, 2, 4, dtype=F64, requires_grad=True)
    names = [n for n, _ in m.named_parameters()]
    params = tuple(m.parameters())

    def f(x, h0, *ps):
        return functional_call(m, dict(zip(names, ps, strict=True)), (x, h0))

    assert torch.autograd.gradgradcheck(f, (x, h0, *params))


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_double_backward_matches_torch(backend):
    """The issue's repro: a gradient penalty's gradient equals torch.nn.GRU's."""
    torch.manual_seed(3)
    theirs = torch.nn.GRU(4, 4).double()
    ours = from_torch(theirs)
    ours.backend = backend
    x = torch.rand(3, 1, 4, dtype=F64, requires_grad=True)
    for m in (theirs, ours):
        (gx,) = torch.autograd.grad(m(x)[0].sum(), x, create_graph=True)
        assert gx.requires_grad
        gx.pow(2).sum().backward()
    torch.testing.assert_close(ours.weight_hh_l0.grad, theirs.weight_hh_l0.grad)


@pytest.mark.parametrize("cell", ["LSTM", "RNN"])
def test_gradgradcheck_lstm_rnn(cell):
    torch.manual_seed(4)
    m = getattr(grunet.nn, cell)(3, 4).double()
    x = torch.randn(3, 2, 3, dtype=F64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda x: m(x)[0], (x,))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize(("layers", "bidirectional"), [(1, False), (2, True)])
def test_packed_sequence_matches_torch(cell, enforce_sorted, batch_first, layers, bidirectional):
    torch.manual_seed(5)
    theirs, ours = _pair(
        cell, 3, 5, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first
    )
    lengths = torch.tensor([7, 5, 5, 2, 1]) if enforce_sorted else torch.tensor([2, 7, 1, 5, 4])
    B, T = len(lengths), int(lengths.max())
    shape = (B, T, 3) if batch_first else (T, B, 3)
    x = torch.randn(*shape, dtype=F64, requires_grad=True)
    D = 2 if bidirectional else 1
    h0 = torch.randn(layers * D, B, 5, dtype=F64, requires_grad=True)
    hx = (h0, torch.randn_like(h0)) if cell == "LSTM" else h0
    results = []
    for m in (theirs, ours):
        packed = pack_padded_sequence(
            x, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted
        )
        out, h = m(packed, hx)
        assert isinstance(out, torch.nn.utils.rnn.PackedSequence)
        padded, out_lengths = pad_packed_sequence(out, batch_first=batch_first)
        state = torch.cat(h) if cell == "LSTM" else h
        g = torch.Generator().manual_seed(7)  # the same projection for both modules
        w_out = torch.randn(padded.shape, generator=g, dtype=F64)
        w_h = torch.randn(state.shape, generator=g, dtype=F64)
        loss = (padded * w_out).sum() + (state * w_h).sum()
        grads = torch.autograd.grad(loss, [x, h0, *m.parameters()])
        results.append((out, padded, out_lengths, state, grads))
    (t_out, t_pad, t_len, t_h, t_g), (o_out, o_pad, o_len, o_h, o_g) = results
    assert torch.equal(o_out.batch_sizes, t_out.batch_sizes)
    for a, b in ((o_out.sorted_indices, t_out.sorted_indices), (o_len, t_len)):
        assert (a is None and b is None) or torch.equal(a, b)
    torch.testing.assert_close(o_out.data, t_out.data)
    torch.testing.assert_close(o_pad, t_pad)
    torch.testing.assert_close(o_h, t_h)
    for a, b in zip(o_g, t_g, strict=True):
        torch.testing.assert_close(a, b)


def test_packed_sequence_of_unequal_tensors_and_no_hx():
    torch.manual_seed(6)
    theirs, ours = _pair("GRU", 2, 3)
    seqs = [torch.randn(n, 2, dtype=F64) for n in (4, 1, 3)]
    packed = pack_sequence(seqs, enforce_sorted=False)
    (t_out, t_h), (o_out, o_h) = theirs(packed), ours(packed)
    torch.testing.assert_close(o_out.data, t_out.data)
    torch.testing.assert_close(o_h, t_h)


def test_packed_sequence_refuses_a_backend_without_step_masks():
    packed = pack_padded_sequence(torch.randn(4, 2, 3), [4, 2])
    with pytest.raises(RuntimeError, match="step_mask"):
        grunet.nn.GRU(3, 5, backend="torch")(packed)


@pytest.mark.parametrize(("layers", "bidirectional", "bias"), [(1, False, True), (2, True, False)])
def test_lstm_proj_size_matches_torch(layers, bidirectional, bias):
    torch.manual_seed(9)
    kw = dict(num_layers=layers, bidirectional=bidirectional, bias=bias, proj_size=3)
    theirs, ours = _pair("LSTM", 4, 6, **kw)
    assert ours.proj_size == 3
    x = torch.randn(5, 2, 4, dtype=F64, requires_grad=True)
    D = 2 if bidirectional else 1
    hx = (torch.randn(layers * D, 2, 3, dtype=F64), torch.randn(layers * D, 2, 6, dtype=F64))
    results = []
    for m in (theirs, ours):
        for state in (None, hx):
            out, (h, c) = m(x, state)
            assert out.shape == (5, 2, D * 3) and h.shape == (layers * D, 2, 3)
            loss = out.pow(2).sum() + h.sum() + c.sum()
            results.append((out, h, c, *torch.autograd.grad(loss, [x, *m.parameters()])))
    for a, b in zip(results[2] + results[3], results[0] + results[1], strict=True):
        torch.testing.assert_close(a, b)
    packed = pack_padded_sequence(x, [5, 3])
    torch.testing.assert_close(ours(packed)[0].data, theirs(packed)[0].data)


def test_lstm_proj_size_refuses_a_backend_without_it():
    with pytest.raises(RuntimeError, match="projection"):
        grunet.nn.LSTM(3, 5, proj_size=2, backend="torch")(torch.randn(4, 1, 3))

"""The reference recurrences against outside references: torch.nn.GRU/LSTM/RNN and the article."""

import numpy as np
import pytest
import torch

import grunet
from grunet import ops

F64 = torch.float64


def _grads(outputs, inputs):
    loss = sum(
        (o * torch.randn_like(o, generator=torch.Generator().manual_seed(7))).sum() for o in outputs
    )
    return torch.autograd.grad(loss, inputs)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(
    ("layers", "bidirectional", "batch_first"),
    [(1, False, False), (2, True, True), (3, False, True)],
)
@pytest.mark.parametrize("cell", ["GRU", "LSTM", "RNN"])
def test_reference_equals_torch_outputs_and_grads(cell, layers, bidirectional, batch_first, seed):
    torch.manual_seed(seed)
    T, B, I, H = 13, 5, 7, 50
    theirs = getattr(torch.nn, cell)(
        I, H, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first, dtype=F64
    )
    ours = getattr(grunet.nn, cell)(
        I,
        H,
        num_layers=layers,
        bidirectional=bidirectional,
        batch_first=batch_first,
        dtype=F64,
        backend="reference",
    )
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn((B, T, I) if batch_first else (T, B, I), dtype=F64, requires_grad=True)
    D = 2 if bidirectional else 1
    h0 = torch.randn(layers * D, B, H, dtype=F64, requires_grad=True)
    hx = (h0, torch.randn_like(h0)) if cell == "LSTM" else h0
    out_t, hn_t = theirs(x, hx)
    out_o, hn_o = ours(x, hx)
    flat = lambda o, h: [o, *(h if isinstance(h, tuple) else (h,))]  # noqa: E731
    for a, b in zip(flat(out_o, hn_o), flat(out_t, hn_t), strict=False):
        torch.testing.assert_close(a, b)
    inputs = [x, h0, *theirs.parameters()]
    g_t = _grads(flat(out_t, hn_t), inputs)
    g_o = _grads(flat(out_o, hn_o), [x, h0, *ours.parameters()])
    for a, b in zip(g_o, g_t, strict=False):
        torch.testing.assert_close(a, b)


def _article_gru_numpy(x, h0, W_r, W_z, W_h, b_r, b_z, b_h):
    """The article's four equations, literally: [h, x] concatenation, z a write gate."""
    sigma = lambda a: 1.0 / (1.0 + np.exp(-a))  # noqa: E731
    h, out = h0, []
    for x_t in x:  # x (T, B, I)
        hx = np.concatenate([h, x_t], axis=-1)  # [h_{t-1}, x_t]
        r = sigma(hx @ W_r.T + b_r)
        z = sigma(hx @ W_z.T + b_z)
        h_cand = np.tanh(np.concatenate([r * h, x_t], axis=-1) @ W_h.T + b_h)
        h = (1 - z) * h + z * h_cand
        out.append(h)
    return np.stack(out), h


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reset_after_false_is_the_articles_equations(seed):
    rng = np.random.default_rng(seed)
    T, B, I, H = 11, 3, 4, 6
    W_r, W_z, W_h = (rng.normal(size=(H, H + I)) * 0.5 for _ in range(3))
    b_r, b_z, b_h = (rng.normal(size=H) * 0.5 for _ in range(3))
    x, h0 = rng.normal(size=(T, B, I)), rng.normal(size=(B, H))
    expected_out, expected_h = _article_gru_numpy(x, h0, W_r, W_z, W_h, b_r, b_z, b_h)
    # Our layout: rows (r, z, n), columns split into x (w_ih) and h (w_hh). z keeps, so the
    # article's write gate z_w = sigma(a) is our keep gate 1 - z_w = sigma(-a): negate z's rows.
    w_ih = np.concatenate([W_r[:, H:], -W_z[:, H:], W_h[:, H:]])
    w_hh = np.concatenate([W_r[:, :H], -W_z[:, :H], W_h[:, :H]])
    b_ih = np.concatenate([b_r, -b_z, b_h])
    t = lambda a: torch.tensor(a, dtype=F64)  # noqa: E731
    out, h_n = ops.gru(
        t(x),
        t(h0)[None],
        [(t(w_ih), t(w_hh), t(b_ih), None)],
        reset_after=False,
        backend="reference",
    )
    np.testing.assert_allclose(out.numpy(), expected_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h_n[0].numpy(), expected_h, rtol=1e-12, atol=1e-12)


def test_reset_after_changes_the_result():
    torch.manual_seed(0)
    x = torch.randn(5, 2, 3, dtype=F64)
    a = grunet.nn.GRU(3, 4, dtype=F64, backend="reference")
    b = grunet.nn.GRU(3, 4, dtype=F64, backend="reference", reset_after=False)
    b.load_state_dict(a.state_dict())
    assert not torch.allclose(a(x)[0], b(x)[0])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reset_after", [True, False])
def test_reference_runs_and_differentiates_in_float32_and_float64(dtype, reset_after):
    torch.manual_seed(3)
    gru = grunet.nn.GRU(2, 5, dtype=dtype, backend="reference", reset_after=reset_after)
    x = torch.randn(4, 3, 2, dtype=dtype, requires_grad=True)
    out, h = gru(x)
    assert out.dtype == dtype and out.shape == (4, 3, 5)
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_reverse_keeps_input_time_order():
    torch.manual_seed(0)
    x = torch.randn(6, 2, 3, dtype=F64)
    w = (torch.randn(12, 3, dtype=F64), torch.randn(12, 4, dtype=F64), None, None)
    h0 = torch.zeros(2, 4, dtype=F64)
    fwd, _ = ops.reference.gru(x.flip(0), h0, *w)
    rev, h_n = ops.reference.gru(x, h0, *w, reverse=True)
    torch.testing.assert_close(rev, fwd.flip(0))
    torch.testing.assert_close(h_n, rev[0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_reference_on_cuda_matches_cpu():
    torch.manual_seed(0)
    gru = grunet.nn.GRU(3, 8, backend="reference", reset_after=False)
    x = torch.randn(7, 2, 3)
    torch.testing.assert_close(gru.cuda()(x.cuda())[0].cpu(), gru.cpu()(x)[0], rtol=1e-5, atol=1e-5)

"""torch.nn <-> grunet.nn conversion, and the article's write-gate equations."""

import numpy as np
import pytest
import torch

import grunet as gn
from grunet.nn.convert import from_torch, keep_gate_to_write_gate, to_torch, write_gate_to_keep_gate


@pytest.mark.parametrize("dtype, atol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_torch_gru_round_trip_is_exact(dtype, atol):
    torch.manual_seed(0)
    ref = torch.nn.GRU(3, 5, num_layers=2, bidirectional=True, batch_first=True, dtype=dtype)
    gru = gn.nn.GRU.from_torch(ref)
    assert isinstance(gru, gn.nn.GRU) and gru.reset_after and gru.batch_first
    x = torch.randn(4, 11, 3, dtype=dtype)
    with torch.no_grad():
        (out, h), (ref_out, ref_h) = gru(x), ref(x)
    torch.testing.assert_close(out, ref_out, atol=atol, rtol=0)
    torch.testing.assert_close(h, ref_h, atol=atol, rtol=0)
    back = gru.to_torch()
    assert type(back) is torch.nn.GRU
    assert list(back.state_dict()) == list(ref.state_dict())
    for a, b in zip(ref.state_dict().values(), back.state_dict().values(), strict=False):
        assert a.dtype == b.dtype and torch.equal(a, b)
    with torch.no_grad():
        assert torch.equal(back(x)[0], ref_out)


def test_to_torch_refuses_the_article_variant():
    with pytest.raises(ValueError, match="reset_after=False"):
        to_torch(gn.nn.GRU(2, 3, reset_after=False))


@pytest.mark.parametrize("cls", [torch.nn.LSTM, torch.nn.RNN])
def test_lstm_and_rnn_convert_too(cls):
    ref = cls(2, 4, num_layers=2)
    mod = from_torch(ref)
    x = torch.randn(6, 3, 2)
    with torch.no_grad():
        torch.testing.assert_close(mod(x)[0], ref(x)[0], atol=1e-5, rtol=0)
    back = to_torch(mod).state_dict()
    assert all(torch.equal(a, back[k]) for k, a in ref.state_dict().items())


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _article_gru(x, W_r, W_z, W_h, b_r, b_z, b_h):
    """Cho et al. (2014) / Chung et al. (2014), written literally: z writes, [h, x] concatenated.

    x (T, I); W_* (H, H + I) acting on [h_{t-1}, x_t]; returns the states (T, H).
    """
    h = np.zeros(W_r.shape[0])
    states = []
    for x_t in x:
        r = _sigmoid(W_r @ np.concatenate([h, x_t]) + b_r)
        z = _sigmoid(W_z @ np.concatenate([h, x_t]) + b_z)
        h_cand = np.tanh(W_h @ np.concatenate([r * h, x_t]) + b_h)
        h = (1 - z) * h + z * h_cand
        states.append(h)
    return np.stack(states)


def test_article_equations_match_grunet_after_write_to_keep_conversion():
    H, In, T = 5, 3, 13
    rng = np.random.default_rng(0)
    W_r, W_z, W_h = (rng.normal(scale=0.6, size=(H, H + In)) for _ in range(3))
    b_r, b_z, b_h = (rng.normal(scale=0.3, size=H) for _ in range(3))
    x = rng.normal(size=(T, In))
    expected = _article_gru(x, W_r, W_z, W_h, b_r, b_z, b_h)

    # Split [h, x] into torch's (r, z, n) row blocks: recurrent part first H columns.
    w_ih = torch.tensor(np.concatenate([W[:, H:] for W in (W_r, W_z, W_h)]))  # (3H, In)
    w_hh = torch.tensor(np.concatenate([W[:, :H] for W in (W_r, W_z, W_h)]))  # (3H, H)
    b_ih, b_hh = (
        torch.tensor(np.concatenate([b_r, b_z, b_h])),
        torch.zeros(3 * H, dtype=torch.float64),
    )
    converted = write_gate_to_keep_gate(w_ih, w_hh, b_ih, b_hh)

    gru = gn.nn.GRU(In, H, reset_after=False, dtype=torch.float64)
    with torch.no_grad():
        for p, value in zip(
            (gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0),
            converted,
            strict=False,
        ):
            p.copy_(value)
        out, _ = gru(torch.tensor(x))
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-12)

    # The same in Keras layout, through the Keras-style layer.
    def keras_order(w):  # torch rows (r, z, n) -> Keras columns (z, r, h)
        w = w.T if w.dim() == 2 else w
        return torch.cat([w[..., H : 2 * H], w[..., :H], w[..., 2 * H :]], dim=-1)

    k, rk, kb, _ = write_gate_to_keep_gate(
        keras_order(w_ih), keras_order(w_hh), keras_order(b_ih), layout="keras"
    )
    model = gn.Sequential([gn.layers.GRU(H, reset_after=False, return_sequences=True)])
    model.build((T, In))
    model.double()
    model.set_weights([k.numpy(), rk.numpy(), kb.numpy()])
    np.testing.assert_allclose(model.predict(x[None])[0], expected, rtol=0, atol=1e-12)

    # The map is its own inverse, and without it the outputs differ.
    back = keep_gate_to_write_gate(*converted)
    assert all(torch.equal(a, b) for a, b in zip(back, (w_ih, w_hh, b_ih, b_hh), strict=False))
    assert not np.allclose(_article_gru(x, W_r, -W_z, W_h, b_r, -b_z, b_h), expected)

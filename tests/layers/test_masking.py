"""Keras masking: Masking, mask= on recurrent layers and Bidirectional, equal to Keras 3 itself.

Keras 3 (torch backend) runs the same layers on the same weights and masks: outputs, final states,
masks. Masks have skipped steps at the start, middle and end of rows, and a row with no step.
"""

import numpy as np
import pytest
import torch

import grunet as gn

keras = pytest.importorskip("keras")
B, T, F = 5, 8, 3


def _mask(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mask = rng.random((B, T)) > 0.35
    mask[0] = True  # a full row
    mask[1, :3] = False  # leading padding (output stays zero until the first step)
    mask[2] = False  # a row with no data at all
    mask[3, -3:] = False  # trailing padding
    return mask


def _same_weights(k_layer, g_layer, x, seed):
    k_layer(x[:1])  # build
    g_layer.maybe_build(tuple(x.shape[1:]))
    rng = np.random.default_rng(seed)
    weights = [
        rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in k_layer.get_weights()
    ]
    k_layer.set_weights(weights)
    g_layer.set_weights(weights)


def _np(y):
    if isinstance(y, (list, tuple)):
        return [_np(v) for v in y]
    return keras.ops.convert_to_numpy(y) if not torch.is_tensor(y) else y.detach().cpu().numpy()


def _assert_same(got, want):
    got, want = _np(got), _np(want)
    if isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


RECURRENT = {
    "gru_reset_after": ("GRU", {}),
    "gru_article_variant": ("GRU", {"reset_after": False}),
    "lstm": ("LSTM", {}),
    "simple_rnn": ("SimpleRNN", {}),
}


@pytest.mark.parametrize("kind", RECURRENT)
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_recurrent_mask_equals_keras(kind, return_sequences, go_backwards):
    cls, extra = RECURRENT[kind]
    kw = dict(
        units=4,
        return_sequences=return_sequences,
        return_state=True,
        go_backwards=go_backwards,
        **extra,
    )
    k_layer, g_layer = getattr(keras.layers, cls)(**kw), getattr(gn.layers, cls)(**kw)
    x = np.random.default_rng(1).normal(size=(B, T, F)).astype(np.float32)
    _same_weights(k_layer, g_layer, x, seed=2)
    mask = _mask(3)
    h0 = [
        np.random.default_rng(4).normal(size=(B, 4)).astype(np.float32)
        for _ in range(2 if cls == "LSTM" else 1)
    ]
    want = k_layer(x, mask=mask, initial_state=h0)
    got = g_layer(
        torch.from_numpy(x),
        mask=torch.from_numpy(mask),
        initial_state=[torch.from_numpy(h) for h in h0],
    )
    _assert_same(got, want)
    out_mask, *state_masks = g_layer.compute_mask(torch.from_numpy(x), torch.from_numpy(mask))
    assert state_masks == [None] * len(h0)
    assert (
        (out_mask is None)
        if not return_sequences
        else torch.equal(out_mask, torch.from_numpy(mask))
    )


@pytest.mark.parametrize("merge_mode", ["concat", "sum", None])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize(
    ("cls", "extra"),
    [("GRU", {"reset_after": True}), ("GRU", {"reset_after": False}), ("LSTM", {})],
    ids=["gru_reset_after", "gru_article_variant", "lstm"],
)
def test_bidirectional_mask_equals_keras(merge_mode, return_sequences, cls, extra):
    kw = dict(units=3, return_sequences=return_sequences, **extra)
    k_layer = keras.layers.Bidirectional(getattr(keras.layers, cls)(**kw), merge_mode=merge_mode)
    g_layer = gn.layers.Bidirectional(getattr(gn.layers, cls)(**kw), merge_mode=merge_mode)
    x = np.random.default_rng(5).normal(size=(B, T, F)).astype(np.float32)
    _same_weights(k_layer, g_layer, x, seed=6)
    mask = _mask(7)
    _assert_same(g_layer(torch.from_numpy(x), mask=torch.from_numpy(mask)), k_layer(x, mask=mask))
    out_mask = g_layer.compute_mask(torch.from_numpy(x), torch.from_numpy(mask))
    if merge_mode is None:
        assert isinstance(out_mask, list) and len(out_mask) == 2
        out_mask = out_mask[0]
    assert (out_mask is not None) == return_sequences


def test_masking_layer_equals_keras():
    x = np.random.default_rng(8).normal(size=(B, T, F)).astype(np.float32)
    x[1, :3] = -1.0
    x[3, 5] = -1.0
    x[4, 2, 0] = -1.0  # one feature equal to the mask value does not mask the step
    k_layer, g_layer = keras.layers.Masking(-1.0), gn.layers.Masking(-1.0)
    xt = torch.from_numpy(x)
    np.testing.assert_array_equal(_np(g_layer(xt)), _np(k_layer(x)))
    np.testing.assert_array_equal(_np(g_layer.compute_mask(xt)), _np(k_layer.compute_mask(x)))


@pytest.mark.parametrize("reset_after", [True, False])
def test_masking_then_stacked_gru_equals_keras(reset_after):
    """Masking -> GRU(return_sequences) -> GRU -> Dense, the mask passed layer to layer by hand."""
    k_layers = [
        keras.layers.Masking(0.0),
        keras.layers.GRU(4, return_sequences=True, reset_after=reset_after),
        keras.layers.GRU(3, reset_after=reset_after),
        keras.layers.Dense(2),
    ]
    km = keras.Sequential([keras.Input((T, F)), *k_layers])
    g_layers = [
        gn.layers.Masking(0.0),
        gn.layers.GRU(4, return_sequences=True, reset_after=reset_after),
        gn.layers.GRU(3, reset_after=reset_after),
        gn.layers.Dense(2),
    ]
    x = np.random.default_rng(9).normal(size=(B, T, F)).astype(np.float32)
    x[~_mask(10)] = 0.0
    h, mask = torch.from_numpy(x), None
    shape = (T, F)
    for layer in g_layers:
        layer.maybe_build(shape)
        shape = layer.compute_output_shape(shape)
    rng = np.random.default_rng(11)
    km.set_weights(
        [rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in km.get_weights()]
    )
    weights = km.get_weights()
    for layer in g_layers:
        n = len(layer.get_weights())
        layer.set_weights(weights[:n])
        weights = weights[n:]
    for layer in g_layers:
        kwargs = {"mask": mask} if layer.accepts_mask and mask is not None else {}
        h, mask = layer(h, **kwargs), layer.compute_mask(h, mask)
    np.testing.assert_allclose(_np(h), _np(km(x)), rtol=1e-5, atol=1e-5)
    assert mask is None  # the last GRU returns one step: no mask after it


def test_mask_of_the_wrong_shape_is_a_clear_error():
    layer = gn.layers.GRU(3)
    with pytest.raises(gn.errors.DataError, match=r"mask must have shape \(batch, timesteps\)"):
        layer(torch.randn(2, 4, 1), mask=torch.ones(4, 2, dtype=torch.bool))


def test_mask_runs_on_a_backend_that_supports_it_and_gradients_skip_masked_steps():
    torch.manual_seed(0)
    layer = gn.layers.GRU(3, return_sequences=True)
    x = torch.randn(2, 5, 2, requires_grad=True)
    mask = torch.tensor([[1, 1, 0, 1, 0], [0, 1, 1, 1, 1]], dtype=torch.bool)
    layer(x, mask=mask).sum().backward()
    assert (x.grad[~mask] == 0).all() and (x.grad[mask] != 0).all()


@pytest.mark.parametrize("reset_after", [True, False])
def test_sequential_carries_the_mask_like_keras(reset_after):
    """Masking -> Bidirectional(GRU, sequences) -> GRU -> Dense in gn.Sequential equals Keras."""
    spec = [
        ("Masking", {"mask_value": 0.0}),
        ("Bidirectional", ("GRU", {"units": 3, "return_sequences": True})),
        ("GRU", {"units": 4}),
        ("Dense", {"units": 2}),
    ]

    def build(lib):
        layers = []
        for kind, kw in spec:
            if kind == "Bidirectional":
                inner, inner_kw = kw
                layer = getattr(lib.layers, inner)(**inner_kw, reset_after=reset_after)
                layers.append(lib.layers.Bidirectional(layer))
            elif kind == "GRU":
                layers.append(lib.layers.GRU(**kw, reset_after=reset_after))
            else:
                layers.append(getattr(lib.layers, kind)(**kw))
        return layers

    km = keras.Sequential([keras.Input((T, F)), *build(keras)])
    gm = gn.Sequential(build(gn))
    gm.build((T, F))
    rng = np.random.default_rng(12)
    weights = [rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in km.get_weights()]
    km.set_weights(weights)
    gm.set_weights(weights)
    x = rng.normal(size=(B, T, F)).astype(np.float32)
    x[~_mask(13)] = 0.0
    np.testing.assert_allclose(gm.predict(x), _np(km(x)), rtol=1e-5, atol=1e-5)

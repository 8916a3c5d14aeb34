"""The address-table kernels (ops.cpu.stream_kernels) against the reference backend.

Short ``grunet.nn.GRU`` calls (`infer._short_pays`), ``GRUStepper`` and the
``streaming.Stepper`` program all run one numba call with addresses for arguments; each is
checked on awkward sizes and fresh random inputs against the reference recurrence.
"""

from unittest import mock

import numpy as np
import pytest
import torch

import grunet as gn
from grunet.ops import cpu, reference
from grunet.ops.cpu import infer, stream_kernels
from grunet.streaming import Stepper
from helpers import assert_close

F32, F64 = torch.float32, torch.float64


@pytest.mark.parametrize(
    ("I", "H", "config"),
    [
        (1, 1, {}),
        (3, 7, {"reset_after": False, "batch_first": True}),
        (2, 33, {"num_layers": 3, "batch_first": True, "bias": False}),
        (1, 5, {"bidirectional": True, "num_layers": 2, "reset_after": False}),
        (4, 9, {"bidirectional": True, "batch_first": True}),
    ],
    ids=str,
)
@pytest.mark.parametrize(("T", "B"), [(1, 1), (1, 3), (4, 1), (2, 2)])
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_short_module_calls_equal_the_reference(I, H, config, T, B, dtype):  # noqa: E741
    seed = I * 1000 + H * 10 + T * 3 + B
    torch.manual_seed(seed)
    fast = gn.nn.GRU(I, H, dtype=dtype, backend="cpu", **config)
    ref = gn.nn.GRU(I, H, dtype=dtype, backend="reference", **config)
    ref.load_state_dict(fast.state_dict())
    D = 2 if config.get("bidirectional") else 1
    shape = (B, T, I) if config.get("batch_first") else (T, B, I)
    with torch.no_grad(), mock.patch.object(infer, "_short", side_effect=infer._short) as short:
        for hx in (None, torch.randn(config.get("num_layers", 1) * D, B, H, dtype=dtype)):
            x = torch.randn(shape, dtype=dtype)
            out, h_n = fast(x, hx)
            want, h_want = ref(x, hx)
            assert out.is_contiguous() and out.shape == want.shape
            assert_close(out, want)
            assert_close(h_n, h_want)
    assert short.call_count == 2


def test_short_call_outputs_are_new_tensors_and_inputs_stay_untouched():
    m = gn.nn.GRU(2, 6, batch_first=True)
    x, hx = torch.randn(1, 1, 2), torch.randn(1, 1, 6)
    x0, hx0 = x.clone(), hx.clone()
    with torch.no_grad():
        out1, h1 = m(x, hx)
        keep = out1.clone(), h1.clone()
        out2, h2 = m(torch.randn(1, 1, 2), hx)
    assert torch.equal(out1, keep[0]) and torch.equal(h1, keep[1])  # not overwritten
    assert out2.data_ptr() != out1.data_ptr() and torch.equal(x, x0) and torch.equal(hx, hx0)


def test_short_call_sees_in_place_edits_and_new_storage():
    torch.manual_seed(4)
    m = gn.nn.GRU(3, 8)
    ref = gn.nn.GRU(3, 8, backend="reference")
    x = torch.randn(1, 2, 3)
    with torch.no_grad():
        m(x)  # binds the table
        m.weight_hh_l0.mul_(0.5)
        m.bias_hh_l0.data = torch.randn(24)
        out, _ = m(x)
        ref.load_state_dict(m.state_dict())
        assert_close(out, ref(x)[0])


def test_non_contiguous_input_takes_the_numpy_plan():
    m = gn.nn.GRU(3, 4)
    ref = gn.nn.GRU(3, 4, backend="reference")
    ref.load_state_dict(m.state_dict())
    x = torch.randn(1, 3, 2).transpose(1, 2)  # (1, 2, 3), not contiguous
    with torch.no_grad(), mock.patch.object(infer, "_short") as short:
        out, h_n = m(x)
        want, h_want = ref(x)
    assert short.call_count == 0
    assert_close(out, want)
    assert_close(h_n, h_want)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_gru_stepper_equals_the_full_sequence(reset_after, dtype):
    T, B, I, H = 6, 2, 1, 33  # noqa: E741
    torch.manual_seed(7)
    w_ih, w_hh = torch.randn(3 * H, I, dtype=dtype), torch.randn(3 * H, H, dtype=dtype) * 0.3
    b_ih, b_hh = torch.randn(3 * H, dtype=dtype), torch.randn(3 * H, dtype=dtype)
    x, h0 = torch.randn(T, B, I, dtype=dtype), torch.randn(B, H, dtype=dtype)
    h0_np = h0.numpy().copy()
    full, h_n = reference.gru(x, h0, w_ih, w_hh, b_ih, b_hh, reset_after=reset_after)
    stepper = cpu.GRUStepper(w_ih, w_hh, b_ih, b_hh, reset_after=reset_after, h0=h0_np)
    outs = [stepper.step(x[t].numpy()) for t in range(T)]
    for t in range(T):  # every returned state is its own array, never overwritten later
        assert_close(torch.from_numpy(outs[t]), full[t])
    assert_close(torch.from_numpy(stepper.h), h_n)
    np.testing.assert_array_equal(h0_np, h0.numpy())  # the given h0 is copied, not updated
    with pytest.raises(ValueError, match="batch"):
        stepper.step(np.zeros((B + 1, I), stepper.h.dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_stepper_program_on_awkward_sizes_equals_predict(dtype):
    L = gn.layers
    model = gn.Sequential(
        [
            L.GRU(1, return_sequences=True, input_shape=(None, 2)),
            L.GRU(33, reset_after=False, return_sequences=True),
            L.Dense(5),
            L.GRU(3, use_bias=False),
        ]
    )
    model = model.double() if dtype == "float64" else model
    x = np.random.default_rng(2).normal(size=(2, 7, 2)).astype(dtype)
    stepper = Stepper(model)
    spy = mock.patch.object(
        stream_kernels, "model_step", side_effect=stream_kernels.model_step
    ).start()
    try:
        for t in range(x.shape[1]):
            y = stepper.step(x[:, t])
            np.testing.assert_allclose(y, model.predict(x[:, : t + 1]), atol=1e-5, rtol=0)
    finally:
        mock.patch.stopall()
    assert spy.call_count == x.shape[1]


def test_copies_and_pickles_of_a_module_rebind_their_own_plan():
    import copy
    import pickle

    m = gn.nn.GRU(2, 5)
    x = torch.randn(1, 1, 2)
    with torch.no_grad():
        want, _ = m(x)  # binds a plan to m's weights
        for other in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
            assert other.__dict__[infer._PLAN] is None
            with torch.no_grad():
                other.weight_ih_l0.mul_(0)  # the copy's own weights, not m's
            assert_close(m(x)[0], want)
            assert not torch.allclose(other(x)[0], want)
    assert list(m.state_dict()) == list(gn.nn.GRU(2, 5).state_dict())

"""Per-step masks and double backward of the CPU backend against the reference.

The masked reference is a loop written here: where step_mask[t, b] is False the state is carried
(h_t = h_{t-1}) and out[t] is that carried state.
"""

import pytest
import torch

from grunet.ops import cpu, reference
from helpers import assert_close, assert_same_run, gru_inputs, nan_empty, run_with_grads

F32, F64 = torch.float32, torch.float64


def masked_reference(x, h0, w_ih, w_hh, b_ih, b_hh, reset_after, reverse, mask):
    outs, h = [None] * x.shape[0], h0
    for t in range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0]):
        _, h_new = reference.gru(x[t : t + 1], h, w_ih, w_hh, b_ih, b_hh, reset_after=reset_after)
        keep = mask[t].to(x.dtype).unsqueeze(1)  # (B, 1)
        h = keep * h_new + (1 - keep) * h
        outs[t] = h
    return torch.stack(outs), h


@pytest.mark.parametrize(("T", "B"), [(63, 3), (2, 2), (9, 11)])  # (2, 2): the small path
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_step_mask_equals_masked_reference(dtype, reset_after, reverse, T, B, monkeypatch):
    monkeypatch.setattr(cpu.runtime, "empty", nan_empty)
    seed = T * 13 + B + 2 * reverse + reset_after
    inputs = gru_inputs(T, B, 5, 50, seed=seed, dtype=dtype)
    mask = torch.rand(T, B, generator=torch.Generator().manual_seed(seed)) > 0.4
    mask[:, 0] = True  # one row never masked, one masked everywhere when B > 1
    if B > 1:
        mask[:, 1] = False
    leaves = [t for t in inputs if t is not None]
    kw = {"reset_after": reset_after, "reverse": reverse}
    want = run_with_grads(
        lambda: masked_reference(*inputs, reset_after, reverse, mask), leaves, seed
    )
    got = run_with_grads(lambda: cpu.gru(*inputs, **kw, step_mask=mask), leaves, seed)
    assert_same_run(got, want, dtype)
    o2, h2 = want[:2]
    with torch.no_grad():  # and the no-grad path
        o3, h3 = cpu.gru(*inputs, reset_after=reset_after, reverse=reverse, step_mask=mask)
    assert_close(o3, o2, dtype, "out (no grad)")
    assert_close(h3, h2, dtype, "h_n (no grad)")


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("reset_after", [True, False])
def test_double_backward_gradgradcheck(reset_after, masked):
    inputs = gru_inputs(4, 2, 3, 5, seed=7 + masked + 2 * reset_after, dtype=F64)
    mask = torch.tensor([[True, False], [True, True], [False, True], [True, True]])

    def fn(*args):
        return cpu.gru(*args, reset_after=reset_after, step_mask=mask if masked else None)

    assert torch.autograd.gradgradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)


def test_bad_step_mask_is_a_clear_error():
    x, h0, w_ih, w_hh, _, _ = gru_inputs(3, 2, 4, 5, seed=0, requires_grad=False)
    with pytest.raises(ValueError, match=r"bool tensor of shape \(T, B\) = \(3, 2\)"):
        cpu.gru(x, h0, w_ih, w_hh, step_mask=torch.ones(3, 2))
    with pytest.raises(ValueError, match="got torch.bool"):
        cpu.gru(x, h0, w_ih, w_hh, step_mask=torch.ones(2, 3, dtype=torch.bool))

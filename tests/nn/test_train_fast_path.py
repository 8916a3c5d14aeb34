"""grunet.nn.GRU calls that autograd records go straight to the CPU kernels' Function
(``ops.cpu.module_train_forward``) when nothing about the call needs the general path.

The shortcut must give what the general path gives (outputs, final states and every gradient, on
fresh random inputs over the module's options), and must hand every call it is not sure of to
the general path, which validates and raises its clear errors.

Legend:  N: batch  L: sequence length  D: directions  H_in, H_out: feature sizes
"""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
import torch

import grunet
from grunet.nn import modules
from grunet.ops import registry
from grunet.ops.cpu import train
from helpers import assert_same_run, run_with_grads

H_IN = 5


def _seed() -> int:
    return int(np.random.default_rng().integers(1 << 30))


def _pair(seed: int, H: int, dtype=torch.float32, **kw):
    """A module and its copy on the reference backend (same parameters)."""
    torch.manual_seed(seed)
    fast = grunet.nn.GRU(H_IN, H, backend="cpu", dtype=dtype, **kw)
    ref = grunet.nn.GRU(H_IN, H, backend="reference", dtype=dtype, **kw)
    ref.load_state_dict(fast.state_dict())
    return fast, ref


CASES = [
    {"H": 7, "N": 1, "L": 1},
    {"H": 33, "N": 16, "L": 1, "batch_first": True},
    {"H": 20, "N": 3, "L": 9, "reset_after": False},
    {"H": 12, "N": 5, "L": 6, "num_layers": 2, "bidirectional": True, "batch_first": True},
    {"H": 9, "N": 40, "L": 3, "bias": False, "num_layers": 3},
    {"H": 16, "N": 2, "L": 4, "dtype": torch.float64, "reset_after": False, "hx": True},
]


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_shortcut_equals_the_reference_on_outputs_and_gradients(case):
    case = dict(case)
    H, N, L = case.pop("H"), case.pop("N"), case.pop("L")
    dtype = case.pop("dtype", torch.float32)
    with_hx = case.pop("hx", False)
    seed = _seed()
    fast, ref = _pair(seed, H, dtype, **case)
    D = 2 if case.get("bidirectional") else 1
    layers = case.get("num_layers", 1)
    gen = torch.Generator().manual_seed(seed)
    shape = (N, L, H_IN) if case.get("batch_first") else (L, N, H_IN)
    x = torch.randn(shape, generator=gen, dtype=dtype, requires_grad=True)
    hx = torch.randn(layers * D, N, H, generator=gen, dtype=dtype) if with_hx else None
    if hx is not None:
        hx.requires_grad_(True)
    leaves = [x, *([hx] if with_hx else [])]
    with mock.patch.object(
        modules._OpsForward, "forward", side_effect=AssertionError("took the general path")
    ):
        got = run_with_grads(lambda: fast(x, hx), [*leaves, *fast.parameters()], seed)
    want = run_with_grads(lambda: ref(x, hx), [*leaves, *ref.parameters()], seed)
    assert_same_run(got, want, dtype)


def test_dropout_between_layers_draws_as_the_general_path():
    # Training with dropout between layers: the same F.dropout calls in the same order, so the
    # same masks from the same seed.
    fast, _ = _pair(_seed(), 11, num_layers=3, dropout=0.5)
    fast.train()
    x = torch.randn(4, 6, H_IN)
    torch.manual_seed(1)
    got = run_with_grads(lambda: fast(x), list(fast.parameters()), 2)
    torch.manual_seed(1)
    with mock.patch.object(modules, "module_train_forward", return_value=None):
        want = run_with_grads(lambda: fast(x), list(fast.parameters()), 2)
    assert_same_run(got, want, torch.float32)


def test_functional_call_parameters_are_used():
    fast, ref = _pair(_seed(), 8)
    swapped = {k: torch.randn_like(v, requires_grad=True) for k, v in fast.named_parameters()}
    x = torch.randn(3, 2, H_IN)
    got = run_with_grads(
        lambda: torch.func.functional_call(fast, swapped, (x,)), list(swapped.values()), 3
    )
    ref.load_state_dict({k: v.detach() for k, v in swapped.items()})
    want = run_with_grads(lambda: ref(x), list(ref.parameters()), 3)
    assert_same_run(got, want, torch.float32)


def test_calls_it_is_not_sure_of_take_the_general_path():
    fast, _ = _pair(_seed(), 6)
    x = torch.randn(4, 2, H_IN)
    take = train.module_train_forward
    assert take(fast, x, None) is not None
    assert take(fast, torch.randn(4, H_IN), None) is None  # unbatched
    assert take(fast, torch.randn(4, 2, H_IN + 1), None) is None  # wrong input size
    assert take(fast, x.double(), None) is None  # dtype differs from the weights'
    assert take(fast, torch.randn(0, 2, H_IN), None) is None  # no steps
    assert take(fast, x, torch.randn(1, 3, 6)) is None  # hx of another batch
    assert take(fast, x, torch.randn(1, 2, 6, dtype=torch.float64)) is None
    other = grunet.nn.GRU(H_IN, 6, backend="reference")
    assert take(other, x, None) is None
    with mock.patch.object(train, "auto_choice", return_value="another"):
        assert take(grunet.nn.GRU(H_IN, 6), x, None) is None  # auto picks someone else
    torch.nn.utils.parametrizations.weight_norm(fast, "weight_hh_l0")
    assert take(fast, x, None) is None
    # ... and the general path still raises its clear errors
    with pytest.raises(RuntimeError, match="input_size"):
        grunet.nn.GRU(H_IN, 6, backend="cpu")(torch.randn(4, 2, H_IN + 1))
    with pytest.raises(RuntimeError, match="hidden"):
        grunet.nn.GRU(H_IN, 6, backend="cpu")(x, torch.randn(1, 3, 6))


def test_auto_choice_follows_registrations(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", {c: dict(t) for c, t in registry._REGISTRY.items()})
    monkeypatch.setattr(registry, "_ORDER", {c: list(o) for c, o in registry._ORDER.items()})
    monkeypatch.setattr(registry, "_AUTO", {})
    call = registry.Call("gru", "cpu", torch.float32)
    assert registry.auto_choice(call) == "cpu"
    registry.register("gru", "faster", priority=99)(lambda *a, **k: None)
    assert registry.auto_choice(call) == "faster"
    assert (
        registry.auto_choice(registry.Call("gru", "cpu", torch.bfloat16))
        == registry.resolve(registry.Call("gru", "cpu", torch.bfloat16)).name
    )

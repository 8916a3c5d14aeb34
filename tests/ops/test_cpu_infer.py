"""The pre-bound inference path of grunet.nn.GRU (ops.cpu.infer) against the reference backend.

It runs only when autograd records nothing, so outputs and final states are what it computes;
the gradients of every CPU path are checked in test_cpu.py and test_cpu_mask.py.
"""

from unittest import mock

import numpy as np
import pytest
import torch

import grunet
from grunet.ops.cpu import infer, runtime
from helpers import assert_close

F32, F64 = torch.float32, torch.float64


def _nan_empty_np(shape, dtype):
    return np.full(shape, np.nan, dtype)


def _nan_empty(shape, dtype):
    return torch.full(shape, float("nan"), dtype=dtype)


def _pair(dtype, seed, **kwargs):
    torch.manual_seed(seed)
    fast = grunet.nn.GRU(5, 50, dtype=dtype, backend="cpu", **kwargs)
    ref = grunet.nn.GRU(5, 50, dtype=dtype, backend="reference", **kwargs)
    ref.load_state_dict(fast.state_dict())
    return fast, ref


# Every route on every shape: `module_call` (short), `bound_call` (bound), GEMMs + `fwd_rows`
# (rows); `_short_pays` and `_bound_pays` only choose among them by speed.
ROUTES = {"short": (True, False), "bound": (False, True), "rows": (False, False)}


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize(("T", "B"), [(1, 1), (2, 2), (5, 7), (24, 1), (16, 4), (63, 3)])
@pytest.mark.parametrize(
    "config",
    [
        {},
        {"reset_after": False},
        {"num_layers": 2, "batch_first": True},
        {"bidirectional": True, "reset_after": False},
        {"bias": False, "num_layers": 2, "bidirectional": True},
    ],
    ids=str,
)
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("with_hx", [False, True])
def test_fast_path_equals_reference(dtype, config, T, B, with_hx, route, monkeypatch):
    monkeypatch.setattr(runtime, "empty_np", _nan_empty_np)
    monkeypatch.setattr(runtime, "empty", _nan_empty)
    short, bound = ROUTES[route]
    monkeypatch.setattr(infer, "_short_pays", lambda *a: short)
    monkeypatch.setattr(infer, "_bound_pays", lambda *a: bound)
    fast, ref = _pair(dtype, T * 7 + B, **config)
    gen = torch.Generator().manual_seed(T + 100 * B)
    shape = (B, T, 5) if config.get("batch_first") else (T, B, 5)
    x = torch.randn(shape, generator=gen, dtype=dtype)
    D = 2 if config.get("bidirectional") else 1
    hx = torch.randn(config.get("num_layers", 1) * D, B, 50, generator=gen, dtype=dtype)
    hx = hx if with_hx else None
    with (
        mock.patch.object(infer, "_rows", side_effect=infer._rows) as rows,
        mock.patch.object(infer, "_short", side_effect=infer._short) as one_call,
    ):
        with torch.no_grad():
            out, h_n = fast(x, hx)
    # the route asked for ran (the rows route once per layer and direction)
    assert (one_call.call_count, rows.call_count > 0) == (
        (0, True) if route == "rows" else (1, False)
    )
    if route != "rows":
        assert one_call.call_args.kwargs.get("bound", False) is bound
    with torch.no_grad():
        out_ref, h_ref = ref(x, hx)
    assert_close(out, out_ref)
    assert_close(h_n, h_ref)


def test_routes_by_size(monkeypatch):
    # A few rows: module_call; a few dozen: bound_call; else GEMMs + rows (one thread per row).
    monkeypatch.setattr(infer.R, "split_parts", lambda *a: 1)
    assert infer._short_pays(1, 1, 50) and infer._short_pays(2, 2, 256)
    assert not infer._short_pays(5, 1, 50)
    assert infer._bound_pays(64, 1, 256, 4) and infer._bound_pays(1, 64, 50, 8)
    assert infer._bound_pays(24, 16, 32, 4)  # several steps of a few rows: one call
    assert not infer._bound_pays(512, 16, 32, 4)  # of many rows: GEMMs + rows
    assert not infer._bound_pays(24, 40, 256, 4)  # projections over `CHUNK_BYTES`
    assert infer._bound_pays(512, 1, 256, 4) and not infer._bound_pays(512, 1, 256, 8)
    with mock.patch.object(infer.R, "threads", return_value=1):  # one step of many rows:
        assert infer._bound_pays(1, 128, 32, 4)  # one thread -> one call
    with mock.patch.object(infer.R, "threads", return_value=2):
        assert not infer._bound_pays(1, 128, 32, 4)  # rows on threads
    # a row whose steps are split over threads (`runtime.split_parts`) never takes bound_call
    monkeypatch.setattr(infer.R, "split_parts", lambda *a: 2)
    assert not infer._bound_pays(512, 1, 256, 4) and not infer._bound_pays(24, 1, 256, 4)


def test_grad_mode_takes_the_autograd_path():
    m = grunet.nn.GRU(3, 8, backend="cpu")
    x = torch.randn(4, 2, 3)
    with mock.patch.object(infer.Plan, "__call__") as spy:
        out, _ = m(x)  # parameters require grad: autograd must record
    assert spy.call_count == 0 and out.requires_grad


def test_weight_edits_and_replacements_are_seen():
    torch.manual_seed(3)
    m = grunet.nn.GRU(3, 8, backend="cpu")
    x = torch.randn(4, 2, 3)
    with torch.no_grad():
        m(x)
        m.weight_hh_l0.mul_(0.5)  # in place: the plan's numpy views see it
        m.bias_ih_l0.data = torch.randn(24)  # new storage: the plan rebinds
        out, _ = m(x)
        m.double()
        out64, _ = m(x.double())
    ref = grunet.nn.GRU(3, 8, backend="reference")
    ref.load_state_dict(m.float().state_dict())
    with torch.no_grad():
        want, _ = ref(x)
    assert_close(out, want)
    assert_close(out64.float(), want)


def test_replaced_and_extra_parameters_are_seen():
    # The plan compares the storage of every entry of _parameters: a parameter replaced by a new
    # one rebinds it, and an extra entry (a tensor, or None) neither breaks the call nor is used.
    torch.manual_seed(4)
    m = grunet.nn.GRU(3, 8, backend="cpu")
    ref = grunet.nn.GRU(3, 8, backend="reference")
    x = torch.randn(4, 2, 3)
    with torch.no_grad():
        m(x)
        m.weight_ih_l0 = torch.nn.Parameter(torch.randn(24, 3))
        m.register_parameter("extra", torch.nn.Parameter(torch.randn(5)))
        m.extra.mul_(2)  # not a weight of the recurrence: no effect
        got_extra, _ = m(x)
        m.register_parameter("unused", None)
        got_none, _ = m(x)
        assert got_none.data_ptr() != got_extra.data_ptr()
        ref.load_state_dict({k: v for k, v in m.state_dict().items() if k != "extra"})
        want, _ = ref(x)
    assert_close(got_extra, want)
    assert_close(got_none, want)


def test_unusual_inputs_fall_back_to_the_general_path():
    m = grunet.nn.GRU(3, 8, backend="cpu")
    with torch.no_grad():
        assert infer.module_forward(m, torch.randn(4, 3), None) is None  # unbatched
        assert infer.module_forward(m, torch.randn(4, 2, 3, dtype=F64), None) is None  # dtype
        assert infer.module_forward(m, torch.randn(4, 2, 5), None) is None  # wrong features
        with mock.patch.object(infer, "auto_choice", return_value="another"):
            x = torch.randn(4, 2, 3)  # "auto" would now pick another backend: general path
            assert infer.module_forward(grunet.nn.GRU(3, 8), x, None) is None
            assert infer.module_forward(grunet.nn.GRU(3, 8, backend="cpu"), x, None) is not None
        half = grunet.nn.GRU(3, 8, dtype=torch.bfloat16)
        assert infer.module_forward(half, torch.randn(1, 1, 3, dtype=torch.bfloat16), None) is None
        with pytest.raises(RuntimeError, match="input_size"):
            m(torch.randn(4, 2, 5))  # and the general path still raises its clear error


@pytest.mark.parametrize("bound", [True, False], ids=["bound_call", "rows"])
def test_first_calls_from_several_threads_equal_the_reference(bound, monkeypatch):
    # A module's first inference calls from a thread pool (a server's workers): the kernels release
    # the GIL, so the derived weights (W_ih^T, packed W_hh) must be made once, before any kernel
    # reads them, not by each thread into the same arrays. (Wide H: making them takes a while.)
    import threading

    monkeypatch.setattr(infer, "_short_pays", lambda *a: False)
    monkeypatch.setattr(infer, "_bound_pays", lambda *a: bound)
    seed = int(np.random.default_rng().integers(1 << 30))
    for trial in range(4):
        torch.manual_seed(seed + trial)
        fast = grunet.nn.GRU(5, 256, backend="cpu")
        ref = grunet.nn.GRU(5, 256, backend="reference")
        ref.load_state_dict(fast.state_dict())
        x = torch.randn(4, 8, 5)
        start, outs = threading.Barrier(4), [None] * 4
        threads = [
            threading.Thread(target=_first_call, args=(fast, x, start, outs, i)) for i in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with torch.no_grad():
            want = ref(x)[0]
        for out in outs:
            assert_close(out, want)


def _first_call(module, x, start, outs, i):
    start.wait()
    with torch.no_grad():  # grad mode is per thread
        outs[i] = module(x)[0]

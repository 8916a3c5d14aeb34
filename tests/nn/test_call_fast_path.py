"""grunet.nn.GRU.__call__: a plain CPU inference call goes straight to ``ops.cpu.module_forward``.

It must behave exactly as torch's ``Module.__call__``: every call that torch would not reduce to
``self.forward(...)`` (hooks, ``module.compile()``, torch.jit and torch.fx tracing, a replaced
``forward``) and every call whose arguments are not ``(input, hx=None)`` goes through torch's
__call__. Each case runs with autograd off (``no_grad``) and with autograd on for a module whose
parameters do not require grad (``frozen``): both take the fast path.

Legend:  N: batch  L: sequence length  H_in, H_out: feature sizes
"""

from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace
from unittest import mock

import pytest
import torch
import torch.fx
from torch.nn.modules import module as torch_module

import grunet
from grunet.nn import modules
from helpers import assert_close, randn

H_IN, H_OUT = 3, 50
MODES = ["no_grad", "frozen"]


def _gru(seed: int, **kwargs) -> grunet.nn.GRU:
    torch.manual_seed(seed)
    return grunet.nn.GRU(H_IN, H_OUT, **kwargs).eval()


def _reference(module: grunet.nn.GRU) -> grunet.nn.GRU:
    """The same module (configuration and parameters) on the reference backend."""
    ref = grunet.nn.GRU(
        H_IN,
        H_OUT,
        num_layers=module.num_layers,
        batch_first=module.batch_first,
        reset_after=module.reset_after,
        backend="reference",
    )
    ref.load_state_dict(module.state_dict())
    return ref.eval()


def _input(seed: int, L: int, N: int, batch_first: bool = False) -> torch.Tensor:
    return randn(*((N, L) if batch_first else (L, N)), H_IN, seed_or_gen=seed)  # (L, N, H_in)


@contextmanager
def _inference(mode: str, *mods: torch.nn.Module):
    """Autograd off, or on with the modules' parameters frozen (nothing for it to record)."""
    if mode == "frozen":
        for m in mods:
            m.requires_grad_(False)
        with torch.enable_grad():
            yield
    else:
        with torch.no_grad():
            yield


@contextmanager
def _spies():
    """What each call took: ``fast`` lists module_forward's (args, result) (None: declined),
    ``torch`` counts the calls that went through torch's ``Module._call_impl``."""
    seen = SimpleNamespace(fast=[], torch=0)
    real_forward, real_call = modules.module_forward, torch.nn.Module._call_impl

    def fast(*args):
        result = real_forward(*args)
        seen.fast.append((args, result))
        return result

    def through_torch(self, *args, **kwargs):
        seen.torch += 1
        return real_call(self, *args, **kwargs)

    with (
        mock.patch.object(modules, "module_forward", fast),
        mock.patch.object(torch.nn.Module, "_call_impl", through_torch),
    ):
        yield seen


def _took_fast_path(seen) -> bool:
    """One call, answered by module_forward from GRU.__call__ (torch's __call__ not entered)."""
    return seen.torch == 0 and len(seen.fast) == 1 and seen.fast[0][1] is not None


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_hx", [False, True])
@pytest.mark.parametrize(("L", "N", "layers"), [(1, 1, 1), (7, 3, 2)])
def test_plain_call_takes_the_fast_path_and_equals_the_reference(
    mode, batch_first, with_hx, L, N, layers
):
    m = _gru(0, batch_first=batch_first, num_layers=layers)
    ref = _reference(m)
    x = _input(1, L, N, batch_first)
    hx = randn(layers, N, H_OUT, seed_or_gen=2) if with_hx else None
    args = (x, hx) if with_hx else (x,)
    with _inference(mode, m, ref):
        with _spies() as seen:
            out, h_n = m(*args)
        assert _took_fast_path(seen)
        torch_out, torch_h_n = torch.nn.Module.__call__(m, *args)  # torch's own __call__
        ref_out, ref_h_n = ref(*args)
    assert torch.equal(out, torch_out) and torch.equal(h_n, torch_h_n)
    assert_close(out, ref_out, msg="output")
    assert_close(h_n, ref_h_n, msg="h_n")


@pytest.mark.parametrize("mode", MODES)
def test_keyword_calls_equal_positional_ones(mode):
    m = _gru(0)
    x, hx = _input(1, 4, 2), randn(1, 2, H_OUT, seed_or_gen=2)
    calls = {
        "(x, hx)": ((x, hx), {}, hx),
        "(x, hx=hx)": ((x,), {"hx": hx}, hx),
        "(input=x, hx=hx)": ((), {"input": x, "hx": hx}, hx),
        "(x)": ((x,), {}, None),
        "(x, None)": ((x, None), {}, None),
        "(x, hx=None)": ((x,), {"hx": None}, None),
        "(input=x)": ((), {"input": x}, None),
    }
    results = {}
    with _inference(mode, m):
        for name, (args, kwargs, given_hx) in calls.items():
            with _spies() as seen:
                results[name] = m(*args, **kwargs)
            assert _took_fast_path(seen), name
            (_, got_x, got_hx), _ = seen.fast[0]
            assert got_x is x and got_hx is given_hx, name
    for name, (out, h_n) in results.items():
        expected = results["(x, hx)" if calls[name][2] is not None else "(x)"]
        assert torch.equal(out, expected[0]) and torch.equal(h_n, expected[1]), name


@pytest.mark.parametrize(
    "call",
    [
        lambda m, x, hx: m(x, hx, 1),
        lambda m, x, hx: m(x, foo=1),
        lambda m, x, hx: m(x, input=x),
        lambda m, x, hx: m(x, hx, hx=hx),
        lambda m, x, hx: m(hx=hx),
        lambda m, x, hx: m(),
    ],
    ids=["3 args", "unknown kwarg", "input twice", "hx twice", "no input", "nothing"],
)
def test_other_arguments_go_to_torch_and_raise_what_it_raises(call):
    m = _gru(0)
    x, hx = _input(1, 4, 2), torch.zeros(1, 2, H_OUT)
    with torch.no_grad():
        with pytest.raises(TypeError) as theirs:
            call(m.to_torch(), x, hx)
        with _spies() as seen, pytest.raises(TypeError) as ours:
            call(m, x, hx)
    assert str(ours.value) == str(theirs.value)
    assert seen.torch == 1 and seen.fast == []


def _scale_input(module, args):
    return (args[0] * 2, *args[1:])


def _halve_hx(module, args, kwargs):
    return args, {**kwargs, "hx": kwargs["hx"] * 0.5}


def _shift_output(module, args, output):
    return output[0] + 1, output[1]


def _shift_output_kw(module, args, kwargs, output):
    return output[0] + kwargs["hx"].sum(), output[1] - 1


# (scope, registration, hook, with_kwargs)
HOOKS = {
    "pre": ("module", "register_forward_pre_hook", _scale_input, False),
    "pre, kwargs": ("module", "register_forward_pre_hook", _halve_hx, True),
    "post": ("module", "register_forward_hook", _shift_output, False),
    "post, kwargs": ("module", "register_forward_hook", _shift_output_kw, True),
    "global pre": ("global", "register_module_forward_pre_hook", _scale_input, False),
    "global post": ("global", "register_module_forward_hook", _shift_output, False),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", list(HOOKS))
def test_forward_hooks_fire_and_modify_like_torchs(mode, kind):
    scope, register, hook, with_kwargs = HOOKS[kind]
    ours = _gru(0)
    theirs = ours.to_torch().eval()
    x, hx = _input(1, 5, 2), randn(1, 2, H_OUT, seed_or_gen=2)
    fired = []

    def counted(module, *rest):
        fired.append(type(module))
        return hook(module, *rest)

    kwargs = {"with_kwargs": True} if with_kwargs else {}
    results = []
    with _inference(mode, ours, theirs):
        for m in (ours, theirs):
            if scope == "module":
                handle = getattr(m, register)(counted, **kwargs)
            else:  # a global hook fires for every module: registered around one module's call
                handle = getattr(torch_module, register)(counted, **kwargs)
            try:
                with _spies() as seen:
                    results.append(m(x, hx=hx))
            finally:
                handle.remove()
            assert seen.torch == 1
        with _spies() as seen:  # hook removed: the fast path again
            plain = ours(x, hx=hx)
        assert _took_fast_path(seen)
    assert fired == [grunet.nn.GRU, torch.nn.GRU]
    (out, h_n), (torch_out, torch_h_n) = results
    assert_close(out, torch_out, msg="output")
    assert_close(h_n, torch_h_n, msg="h_n")
    assert not torch.equal(out, plain[0])  # the hook changed the result


REGISTRATIONS = {
    "forward pre": lambda m, hook: m.register_forward_pre_hook(hook),
    "forward": lambda m, hook: m.register_forward_hook(hook),
    "full backward pre": lambda m, hook: m.register_full_backward_pre_hook(hook),
    "full backward": lambda m, hook: m.register_full_backward_hook(hook),
    "global forward pre": lambda m, hook: torch_module.register_module_forward_pre_hook(hook),
    "global forward": lambda m, hook: torch_module.register_module_forward_hook(hook),
    "global full backward pre": (
        lambda m, hook: torch_module.register_module_full_backward_pre_hook(hook)
    ),
    "global full backward": lambda m, hook: torch_module.register_module_full_backward_hook(hook),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("registration", list(REGISTRATIONS))
def test_any_hook_sends_the_call_through_torch(mode, registration):
    m = _gru(0)
    x = _input(1, 3, 2)
    with _inference(mode, m):
        expected = m(x)
        handle = REGISTRATIONS[registration](m, lambda *args: None)
        try:
            with _spies() as seen:
                out, h_n = m(x)
        finally:
            handle.remove()
    assert seen.torch == 1
    assert torch.equal(out, expected[0]) and torch.equal(h_n, expected[1])


class _DoubledOutput(grunet.nn.GRU):
    def forward(self, input, hx=None):
        out, h_n = super().forward(input, hx)
        return out * 2, h_n


@pytest.mark.parametrize("mode", MODES)
def test_a_replaced_forward_is_called(mode):
    base = _gru(0)
    sub = _DoubledOutput(H_IN, H_OUT).eval()
    sub.load_state_dict(base.state_dict())
    patched = _gru(0)
    plain_forward = patched.forward
    patched.forward = lambda input, hx=None: (plain_forward(input, hx)[0] * 2, None)
    x = _input(1, 3, 2)
    with _inference(mode, base, sub, patched):
        expected = base(x)[0] * 2
        for m in (sub, patched):
            with _spies() as seen:
                out, _ = m(x)
            assert seen.torch == 1
            assert torch.equal(out, expected)


class _Wrapper(torch.nn.Module):
    """A model around a GRU; with `x0`, it runs the GRU on that buffer (a tensor, not a Proxy,
    while torch.fx traces) and adds its output."""

    def __init__(self, gru: torch.nn.Module, x0: torch.Tensor | None = None) -> None:
        super().__init__()
        self.gru = gru
        self.register_buffer("x0", x0)

    def forward(self, x):
        out, h_n = self.gru(x)
        if self.x0 is not None:
            out = out + self.gru(self.x0)[0]
        return out * 2, h_n


class _GRULeafTracer(torch.fx.Tracer):
    """fx's default tracer, with grunet's GRU kept whole, as torch.nn.GRU is."""

    def is_leaf_module(self, m, module_qualified_name):
        return isinstance(m, grunet.nn.GRU) or super().is_leaf_module(m, module_qualified_name)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("buffer_input", [False, True])
def test_fx_records_the_gru_as_torch_nn_grus_call(mode, buffer_input):
    gru = _gru(0)
    x0 = _input(3, 4, 2) if buffer_input else None
    ours, theirs = _Wrapper(gru, x0), _Wrapper(gru.to_torch().eval(), x0)
    with _inference(mode, ours, theirs):
        graph = _GRULeafTracer().trace(ours)
        traced = torch.fx.GraphModule(ours, graph)
        torch_graph = torch.fx.symbolic_trace(theirs).graph
        x = _input(1, 4, 2)
        out, h_n = traced(x)
        expected = ours(x)
    calls = [(n.op, n.target) for n in graph.nodes if n.op == "call_module"]
    torch_calls = [(n.op, n.target) for n in torch_graph.nodes if n.op == "call_module"]
    assert calls == torch_calls == [("call_module", "gru")] * (2 if buffer_input else 1)
    assert torch.equal(out, expected[0]) and torch.equal(h_n, expected[1])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cell", ["GRU", "LSTM", "RNN"])
def test_fx_default_tracer_records_one_call_as_for_torch_nn(mode, cell):
    """fx's default tracer keeps only torch.nn's modules whole and traces into grunet's: its
    forward then records one call_module node, the graph torch.nn's module gives."""
    torch.manual_seed(0)
    ours = getattr(grunet.nn, cell)(H_IN, H_OUT).eval()
    theirs = getattr(torch.nn, cell)(H_IN, H_OUT).eval()
    theirs.load_state_dict(ours.state_dict())
    with _inference(mode, ours, theirs):
        traced = torch.fx.symbolic_trace(_Wrapper(ours))
        torch_traced = torch.fx.symbolic_trace(_Wrapper(theirs))
        x = _input(1, 4, 2)
        got, want = traced(x), _Wrapper(ours)(x)
    nodes = [(n.op, n.target) for n in traced.graph.nodes]
    assert nodes == [(n.op, n.target) for n in torch_traced.graph.nodes]
    assert ("call_module", "gru") in nodes
    flat = [got[0], *(got[1] if cell == "LSTM" else [got[1]])]
    expected = [want[0], *(want[1] if cell == "LSTM" else [want[1]])]
    assert all(torch.equal(a, b) for a, b in zip(flat, expected, strict=True))


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.filterwarnings("ignore:.*is deprecated")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reset_after", [True, False])
def test_jit_trace_records_torch_ops(mode, reset_after):
    model = _Wrapper(_gru(0, reset_after=reset_after))
    x, x_new = _input(1, 4, 2), _input(2, 4, 2)
    with _inference(mode, model):
        traced = torch.jit.trace(model, x)
        out, h_n = traced(x_new)
        expected = model(x_new)
        if reset_after:  # torch's own GRU op: any sequence length, as torch.nn.GRU's trace
            assert "aten::gru" in str(traced.inlined_graph)
            longer = _input(3, 9, 2)
            torch.testing.assert_close(traced(longer), model(longer))
    assert_close(out, expected[0], msg="output")
    assert_close(h_n, expected[1], msg="h_n")


_compile_available = hasattr(torch.nn.Module, "compile") and torch._dynamo.is_dynamo_supported()


@pytest.mark.skipif(not _compile_available, reason="torch.compile is not supported here")
@pytest.mark.parametrize("mode", MODES)
def test_compiled_calls_equal_eager(mode):
    torch._dynamo.reset()  # each module's first call compiles afresh (and no cache limit is hit)
    eager = _gru(0)
    compiled = _gru(0)
    compiled.compile(backend="eager")
    spy = mock.Mock(wraps=compiled._compiled_call_impl)
    compiled._compiled_call_impl = spy
    optimized = torch.compile(_gru(0), backend="eager")
    x = _input(1, 3, 2)
    with _inference(mode, eager, compiled, optimized):
        expected = eager(x)
        for m in (compiled, optimized):
            out, h_n = m(x)
            assert torch.equal(out, expected[0]) and torch.equal(h_n, expected[1])
    spy.assert_called_once()

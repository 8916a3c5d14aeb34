"""Backend dispatch: names, refusals with reasons, and what auto picks."""

import pytest
import torch

from grunet import ops
from grunet.ops.registry import Call


def test_unknown_backend_names_the_choices():
    with pytest.raises(ValueError, match="Unknown backend 'nope'.*reference"):
        ops.gru(
            torch.randn(2, 1, 3),
            torch.zeros(1, 1, 4),
            [(torch.randn(12, 3), torch.randn(12, 4), None, None)],
            backend="nope",
        )


def test_named_backend_that_cannot_run_says_why():
    call = Call(cell="gru", device="cpu", dtype=torch.float32, reset_after=False)
    with pytest.raises(RuntimeError, match="reset_after=True"):
        ops.resolve(call, "torch")
    with pytest.raises(RuntimeError, match="CUDA"):
        ops.resolve(Call(cell="gru", device="cpu", dtype=torch.float32), "cudnn")


@pytest.mark.parametrize("reset_after", [True, False])
def test_auto_picks_the_highest_priority_backend_that_can_run(reset_after):
    call = Call(cell="gru", device="cpu", dtype=torch.float32, reset_after=reset_after)
    chosen = ops.resolve(call, "auto").name
    assert chosen == ops.available(call)[0]
    if not reset_after:
        assert chosen not in ("torch", "cudnn")


def test_non_default_activation_falls_back_to_reference():
    call = Call(cell="gru", device="cpu", dtype=torch.float32, default_activations=False)
    assert ops.resolve(call, "auto").name == "reference"


def test_auto_dispatch_actually_calls_the_chosen_backend(monkeypatch):
    calls = []
    backend = ops.resolve(Call(cell="lstm", device="cpu", dtype=torch.float32), "auto")
    original = backend.fn

    def spy(*args, **kwargs):
        calls.append(backend.name)
        return original(*args, **kwargs)

    monkeypatch.setitem(
        ops.registry._REGISTRY["lstm"],
        backend.name,
        ops.registry.Backend(backend.name, "lstm", spy, backend.priority, backend.why_not),
    )
    x = torch.randn(3, 2, 4)
    state = (torch.zeros(1, 2, 5), torch.zeros(1, 2, 5))
    ops.lstm(x, state, [(torch.randn(20, 4), torch.randn(20, 5), None, None)])
    assert calls == [backend.name]


def test_unknown_activation_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown activation 'tanhh'"):
        ops.get_activation("tanhh")


def test_step_mask_calls_go_only_to_backends_that_declare_it():
    call = ops.Call(cell="gru", device="cpu", dtype=torch.float32, step_mask=True)
    for name in ops.available(call):
        assert "step_mask" in ops.registry._REGISTRY["gru"][name].supports
    assert "step_mask" in ops.resolve(call).supports
    with pytest.raises(RuntimeError, match="does not implement step_mask.*reference"):
        ops.resolve(call, "torch")


def test_step_mask_reaches_the_backend(monkeypatch):
    seen = []
    real = ops.registry._REGISTRY["gru"]["reference"]
    fn = real.fn

    def spy(*args, **kwargs):
        seen.append(kwargs.get("step_mask"))
        return fn(*args, **kwargs)

    monkeypatch.setitem(
        ops.registry._REGISTRY["gru"],
        "reference",
        real.__class__(
            real.name, real.cell, spy, real.priority, real.why_not, real.auto_devices, real.supports
        ),
    )
    x, mask = torch.randn(4, 2, 3), torch.tensor([[1, 1], [1, 0], [1, 0], [0, 0]], dtype=torch.bool)
    w = [(torch.randn(12, 3), torch.randn(12, 4), None, None)] * 2
    out, h_n = ops.gru(
        x, torch.zeros(2, 2, 4), w, bidirectional=True, step_mask=mask, backend="reference"
    )
    assert len(seen) == 2 and all(torch.equal(m, mask) for m in seen)
    torch.testing.assert_close(out[3, 0, :4], out[2, 0, :4])  # carried over the masked step
    torch.testing.assert_close(out[:, 1, 4:][1:], torch.zeros(3, 4))  # reverse: h0 until t=0


def test_register_refuses_unknown_features():
    with pytest.raises(ValueError, match="unknown features"):
        ops.register("gru", "x", priority=0, supports={"packed"})

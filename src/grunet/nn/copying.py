"""Copy a recurrent module's configuration and parameters into another class (torch <-> grunet).

Holds no grunet class, so both `grunet.nn.modules` (``GRU.from_torch`` / ``to_torch``) and
`grunet.nn.convert` use it without importing each other in a circle.
"""

from __future__ import annotations

from torch import nn

ARGS = (
    "input_size",
    "hidden_size",
    "num_layers",
    "bias",
    "batch_first",
    "dropout",
    "bidirectional",
)


def copy_module(source: nn.Module, target_cls: type, **extra) -> nn.Module:
    """A `target_cls` with `source`'s constructor arguments, parameters, device, dtype and mode."""
    kwargs = {k: getattr(source, k) for k in ARGS}
    if isinstance(source, nn.RNN):
        kwargs["nonlinearity"] = source.nonlinearity
    if isinstance(source, nn.LSTM):
        kwargs["proj_size"] = source.proj_size
    p = next(source.parameters())
    target = target_cls(**kwargs, **extra, device=p.device, dtype=p.dtype)
    target.load_state_dict(source.state_dict(), strict=True)
    target.train(source.training)
    return target


def refuse_reset_before(module: nn.Module) -> None:
    """Raise for a GRU with reset_after=False: torch.nn.GRU cannot run that variant."""
    if getattr(module, "reset_after", True) is False:
        raise ValueError(
            "to_torch: this GRU has reset_after=False (the article's variant), which torch.nn.GRU "
            "cannot run: it only implements reset_after=True. Export it to ONNX instead "
            "(linear_before_reset=0), or keep using grunet.nn.GRU."
        )


__all__ = ["ARGS", "copy_module", "refuse_reset_before"]

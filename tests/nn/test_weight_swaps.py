"""A parameter replaced between calls is used by the next call, on every path (the fast check of
swapped parameters reads `_parameters`; a parametrized module takes torch's own check)."""

import torch
from torch import nn

import grunet as gn


def _pair(**kw):
    g = gn.nn.GRU(3, 5, batch_first=True, **kw)
    t = nn.GRU(3, 5, batch_first=True)
    t.load_state_dict(g.state_dict())
    return g, t


def test_assigned_parameter_is_used_by_the_next_call():
    g, t = _pair()
    x = torch.randn(2, 4, 3)
    with torch.no_grad():
        g(x)  # binds the fast path's plan to the old weights
        new = nn.Parameter(torch.randn_like(g.weight_hh_l0))
        g.weight_hh_l0 = new
        t.weight_hh_l0 = nn.Parameter(new.detach().clone())
        torch.testing.assert_close(g(x)[0], t(x)[0])


def test_parametrized_module_uses_its_computed_weights():
    g, t = _pair()
    x = torch.randn(2, 4, 3)
    for m in (g, t):
        torch.nn.utils.parametrizations.weight_norm(m, "weight_hh_l0")
    with torch.no_grad():
        for m in (g, t):
            m.parametrizations.weight_hh_l0.original0.mul_(1.7)  # changes the computed weight
        torch.testing.assert_close(g(x)[0], t(x)[0])

"""fit adds the layers' regularization penalties to the loss, as Keras does."""

import numpy as np
import pytest
import torch

import grunet as gn
from grunet.errors import OptionError


def _model(reg: str | None) -> gn.Sequential:
    gn.set_seed(3)
    model = gn.Sequential(
        [
            gn.layers.GRU(5, input_shape=(4, 2), kernel_regularizer=reg),
            gn.layers.Dense(1, kernel_regularizer=reg),
        ]
    )
    model.compile(loss="mse", optimizer="sgd")
    return model


@pytest.mark.parametrize("reg", ["l2", "l1"])
def test_one_step_equals_loss_plus_penalty(reg):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 4, 2)), rng.normal(size=(6, 1))
    model = _model(reg)
    expected = _model(reg)
    X, Y = (torch.as_tensor(a, dtype=torch.float32) for a in (x, y))
    loss = torch.nn.functional.mse_loss(expected(X), Y) + torch.stack(expected.losses).sum()
    loss.backward()
    with torch.no_grad():
        for p in expected.parameters():
            p -= 0.01 * p.grad  # Keras's SGD default learning rate
    history = model.fit(x, y, epochs=1, batch_size=6, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(float(loss.detach()), rel=1e-5)
    for a, b in zip(model.parameters(), expected.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_penalty_counts_in_evaluate():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(5, 4, 2)), rng.normal(size=(5, 1))
    plain, penalized = _model(None), _model("l2")
    assert penalized.evaluate(x, y) > plain.evaluate(x, y)
    assert penalized.evaluate(x, y) == pytest.approx(
        plain.evaluate(x, y) + float(torch.stack(penalized.losses).sum().detach()), rel=1e-5
    )


def test_fused_epoch_refuses_regularized_models():
    model = _model("l2")
    model.compile(loss="mse", optimizer="adam")  # GRU -> Dense, MSE, Adam: fusable but for this
    x, y = np.zeros((4, 4, 2)), np.zeros((4, 1))
    with pytest.raises(OptionError, match="regularizers"):
        model.fit(x, y, epochs=1, verbose=0, fused=True)
    model.fit(x, y, epochs=1, verbose=0)  # auto: the generic loop, with the penalty

"""What the federated histories print: IID named as such, weights without float noise."""

from __future__ import annotations

from securecompute.federated.fedfix import simulate_async
from securecompute.federated.simulation import run_byzantine


def test_an_iid_split_is_printed_as_iid() -> None:
    history = run_byzantine("mean", "none", workers=5, byzantine=1, steps=1, alpha=None)
    assert ", IID," in history.summary()
    assert "alpha=None" not in history.summary()
    skewed = run_byzantine("mean", "none", workers=5, byzantine=1, steps=1, alpha=0.3)
    assert ", alpha=0.3," in skewed.summary()


def test_weights_print_without_float_noise() -> None:
    # F-X times give d_i = ceil(tau_i / dt) * p_i: products such as 3 * 0.05 print as 0.15000000000000002 unrounded
    history = simulate_async(policy="fedfix", dt=0.2, clients=20, times="F-80", horizon=1.0, seed=0)
    assert all(len(repr(weight)) <= 14 for weight in history.weights), history.weights
    assert "IID" in simulate_async(policy="fedavg", clients=4, alpha=None, horizon=0.5, seed=0).summary()

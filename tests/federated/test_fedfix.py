"""The asynchronous event-clock simulator (FedAvg, async FedAvg, FedFix, FedBuff) and ``simulate async``."""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from securecompute.cli import _Parser
from securecompute.errors import ParameterError
from securecompute.federated import fedfix
from securecompute.federated.commands import register_commands
from securecompute.federated.fedfix import AsyncHistory, client_times, get_policy, simulate_async

# Three clients whose times are exact in binary, so the hand-computed schedules below hold to the bit.
TAUS = [1.0, 0.75, 0.25]
FAST: dict[str, Any] = {"clients": 3, "times": TAUS, "local_steps": 1, "evals": 4}
VECTORS = Path(__file__).parents[2] / "protocols" / "vectors" / "fedfix" / "schedules.json"


def run(policy: str, horizon: float, **options: Any) -> AsyncHistory:
    settings = {**FAST, **options}
    return simulate_async(policy=policy, horizon=horizon, seed=0, **settings)


# ---------------------------------------------------------------------------------------------- weights


def test_weights_follow_the_formula_of_each_policy() -> None:
    taus = client_times("F-80", 3)
    np.testing.assert_allclose(taus, [1.0, 0.6, 0.2])
    p = np.full(3, 1 / 3)
    np.testing.assert_allclose(get_policy("fedavg").weights(taus, p), p)
    total = 1 / 1.0 + 1 / 0.6 + 1 / 0.2  # 23/3
    np.testing.assert_allclose(get_policy("async").weights(taus, p), [total / 3, total * 0.6 / 3, total * 0.2 / 3])
    np.testing.assert_allclose(get_policy("async_identical").weights(taus, p), [1.0, 1.0, 1.0])
    # ceil(1/0.2) = 5, ceil(0.6/0.2) = 3 (0.6/0.2 is 2.9999999999999996 in floating point), ceil(0.2/0.2) = 1
    np.testing.assert_allclose(get_policy("fedfix", dt=0.2).weights(taus, p), [5 / 3, 1.0, 1 / 3])
    np.testing.assert_allclose(get_policy("fedfix", dt=0.5).weights(taus, p), [2 / 3, 2 / 3, 1 / 3])
    np.testing.assert_allclose(get_policy("fedbuff", c=4).weights(taus, p), [0.25] * 3)


def test_f_x_times_and_traces() -> None:
    np.testing.assert_allclose(client_times("F-0", 4), [1.0] * 4)
    np.testing.assert_allclose(client_times("F-80", 5), [1.0, 0.8, 0.6, 0.4, 0.2])
    np.testing.assert_allclose(client_times("exp-50", 3), [1.0, 0.75, 0.5])
    np.testing.assert_allclose(client_times([[0.5, 1.0], [1.0], [0.25]], 3), [0.75, 1.0, 0.25])
    np.testing.assert_allclose(client_times("F-80", 1), [1.0])


def test_history_reports_the_weights_and_importances() -> None:
    h = run("async", 1.0)
    total = 1 / 1.0 + 1 / 0.75 + 1 / 0.25  # 19/3
    np.testing.assert_allclose(h.weights, [total * t / 3 for t in TAUS])
    np.testing.assert_allclose(h.p, [1 / 3] * 3)
    assert h.taus == TAUS


# ------------------------------------------------------------------------------------- event clock


def test_schedules_match_the_hand_worked_vectors() -> None:
    vectors = json.loads(VECTORS.read_text())
    assert vectors["times"] == TAUS
    for case in vectors["cases"]:
        options = {
            key: [tuple(o) for o in value] if key == "outages" else value for key, value in case["options"].items()
        }
        h = run(case["policy"], case["horizon"], **options)
        expected = [(moment, tuple(clients)) for moment, clients in case["aggregations"]]
        assert h.aggregations == expected, case["name"]
        assert h.staleness == case["staleness"], case["name"]
        assert h.lost == case["lost"], case["name"]


def test_fedfix_ticks_weight_each_client_by_its_period() -> None:
    # dt = 0.5 (vector 2): client 2 is aggregated every tick, clients 0 and 1 every second tick.
    h = run("fedfix", 2.0, dt=0.5)
    np.testing.assert_allclose(h.weights, [2 / 3, 2 / 3, 1 / 3])
    # Realised weight per tick = p_i: each client got 4/3 over 4 ticks.
    np.testing.assert_allclose(np.asarray(h.applied_weight) / 4, [1 / 3] * 3)
    np.testing.assert_allclose(h.q, h.p)


def test_fedbuff_weights_are_one_over_c() -> None:
    np.testing.assert_allclose(run("fedbuff", 1.0, c=2).weights, [0.5] * 3)


def test_fedfix_with_dt_at_least_max_tau_is_fedavg_round_for_round() -> None:
    avg = run("fedavg", 3.0, local_steps=3)
    for dt, horizon in ((1.0, 3.0), (1.5, 4.5)):
        fix = run("fedfix", horizon, dt=dt, local_steps=3)
        assert [clients for _, clients in fix.aggregations] == [clients for _, clients in avg.aggregations]
        assert np.array_equal(fix.params, avg.params)
    assert run("fedfix", 3.0, dt=1.0, local_steps=3).accuracy == avg.accuracy


def test_fedfix_realised_weights_are_p_and_staleness_is_bounded() -> None:
    # F-80 with M = 20 and dt = 0.2: periods ceil(tau_i/dt) are 1..5, so over 60 ticks (t = 12) every client
    # participates exactly 60 / period times and its realised weight per tick is exactly p_i.
    dt = 0.2
    h = simulate_async(policy="fedfix", dt=dt, clients=20, times="F-80", horizon=12.0, local_steps=1, evals=2)
    periods = np.ceil(np.asarray(h.taus) / dt - 1e-9)
    np.testing.assert_array_equal(h.participation, (60 / periods).astype(int))
    np.testing.assert_allclose(np.asarray(h.applied_weight) / 60, h.p)
    assert h.max_staleness <= math.ceil(max(h.taus) / dt)
    assert h.max_staleness == 4  # a period-5 client lands 4 versions late
    assert len(h.aggregations) == 60


def test_online_weights_match_the_formula_on_deterministic_times() -> None:
    h = run("fedfix", 2.0, dt=0.5, weighting="online")
    np.testing.assert_allclose(h.weights, [2 / 3, 2 / 3, 1 / 3])


def test_async_identical_favours_fast_clients() -> None:
    h = simulate_async(policy="async_identical", clients=10, times="F-80", horizon=10.0, local_steps=1, evals=2)
    counts = np.asarray(h.participation)
    assert counts[-1] >= 4 * counts[0]  # tau 0.2 against tau 1.0
    assert np.all(np.diff(counts) >= 0)
    q = np.asarray(h.q)
    assert q[-1] > 3 * q[0]
    assert q[-1] > h.p[-1]
    fix = simulate_async(policy="fedfix", dt=0.2, clients=10, times="F-80", horizon=10.0, local_steps=1, evals=2)
    assert np.ptp(fix.q) < 0.02  # FedFix: realised weights close to p = 1/10 each


def test_traces_and_exponential_times() -> None:
    h = run("async", 3.0, times=[[0.5, 1.0], [1.0], [0.25]])
    assert h.returns[0] == 4  # jobs of 0.5, 1.0, 0.5, 1.0 end at 0.5, 1.5, 2.0, 3.0
    assert h.returns[1] == 3
    e1 = run("fedfix", 5.0, times="exp-80", dt=0.2)
    e2 = run("fedfix", 5.0, times="exp-80", dt=0.2)
    assert e1.aggregations == e2.aggregations
    moments = [moment for moment, _ in e1.aggregations]
    np.testing.assert_allclose(np.asarray(moments) / 0.2, np.round(np.asarray(moments) / 0.2))


# ------------------------------------------------------------------------------------- crashes


def test_crashed_updates_are_never_applied() -> None:
    h = run("fedavg", 20.0, crash=0.3)
    assert h.lost > 0
    assert sum(h.participation) + h.lost == sum(h.returns)
    assert len(h.staleness) == sum(h.participation)
    for policy, options in (("async", {}), ("fedfix", {"dt": 0.5}), ("fedbuff", {"c": 2})):
        other = run(policy, 10.0, crash=0.3, **options)
        assert other.lost > 0
        assert sum(other.participation) + other.lost <= sum(other.returns)
        assert sum(len(clients) for _, clients in other.aggregations) == sum(other.participation)


def test_a_crashed_client_is_sent_a_model_again() -> None:
    h = run("async", 10.0, crash=0.5)
    assert min(h.returns) >= 5  # every client keeps working after its lost jobs


def test_crashed_clients_stay_away_for_the_downtime() -> None:
    quick = run("async", 10.0, crash=0.5)
    slow = run("async", 10.0, crash=0.5, downtime=3.0)
    assert slow.lost > 0
    assert sum(slow.returns) < sum(quick.returns)
    assert sum(slow.participation) + slow.lost == sum(slow.returns)
    assert slow.settings["downtime"] == 3.0


# ---------------------------------------------------------------------------------- reproducibility


def test_a_seed_reproduces_the_history_exactly() -> None:
    a = simulate_async(policy="fedbuff", c=3, clients=6, times="exp-80", horizon=4.0, seed=3, crash=0.1)
    b = simulate_async(policy="fedbuff", c=3, clients=6, times="exp-80", horizon=4.0, seed=3, crash=0.1)
    assert a.accuracy == b.accuracy
    assert a.loss == b.loss
    assert a.staleness == b.staleness
    assert a.aggregations == b.aggregations
    assert np.array_equal(a.params, b.params)
    c = simulate_async(policy="fedbuff", c=3, clients=6, times="exp-80", horizon=4.0, seed=4, crash=0.1)
    assert not np.array_equal(a.params, c.params)


def test_learning_happens_within_a_short_virtual_horizon() -> None:
    h = simulate_async(policy="fedfix", dt=0.2, clients=10, times="F-80", alpha=0.3, horizon=8.0, evals=8)
    assert h.accuracy[0] < 0.25
    assert h.final_accuracy > 0.8
    assert h.loss[-1] < h.loss[0] / 2
    assert h.time_to(0.7) is not None
    assert h.time_to(1.01) is None
    assert h.times == [float(k) for k in range(9)]
    assert len(h.surrogate_loss) == len(h.times)
    assert len(h.surrogate_accuracy) == len(h.times)


def test_history_summary_and_plot(tmp_path: Path) -> None:
    h = run("fedfix", 2.0, dt=0.5)
    line = h.summary()
    assert "fedfix(dt=0.5)" in line
    assert "final accuracy" in line
    assert "\n" not in line
    figure = h.plot(path=tmp_path / "fedfix.png")
    assert len(figure.axes) == 4
    assert (tmp_path / "fedfix.png").read_bytes()[:4] == b"\x89PNG"


# ---------------------------------------------------------------------------------- preconditions


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"policy": "fedfix", "dt": 0.0}, "dt"),
        ({"policy": "fedfix", "dt": -0.2}, "dt"),
        ({"policy": "fedfix", "dt": float("nan")}, "dt"),
        ({"policy": "fedbuff", "c": 0}, "c must"),
        ({"policy": "fedbuff", "c": 2.5}, "c must"),
        ({"policy": "sync"}, "unknown policy"),
        ({"times": "F-100"}, "X must be"),
        ({"times": "G-80"}, "unknown client times"),
        ({"times": [1.0, float("nan"), 1.0]}, "nan"),
        ({"times": [1.0, 0.0, 1.0]}, "> 0"),
        ({"times": [1.0, 1.0]}, "3 clients"),
        ({"times": [[1.0], [], [1.0]]}, "empty"),
        ({"p": [0.5, 0.5, 0.5]}, "summing to 1"),
        ({"p": "biased"}, "uniform"),
        ({"clients": 0, "times": "F-80"}, "clients"),
        ({"horizon": 0.0}, "horizon"),
        ({"crash": 1.0}, "crash"),
        ({"weighting": "magic"}, "weighting"),
        ({"local_steps": 0}, "local_steps"),
        ({"eta_g": -1.0}, "eta_g"),
        ({"lr": 0.0}, "lr"),
        ({"model": "cnn"}, "unknown model"),
        ({"alpha": -0.3}, "alpha"),
        ({"seed": -1}, "seed"),
        ({"downtime": -1.0}, "downtime"),
        ({"downtime": float("inf")}, "downtime"),
        ({"outages": [(3, 0.0, 1.0)]}, "outage client"),
        ({"outages": [(0, 1.0, 0.5)]}, "start < end"),
        ({"outages": [(0, 0.0, float("nan"))]}, "start < end"),
        ({"outages": [(0, 1.0)]}, "client, start, end"),
    ],
)
def test_bad_input_is_a_parameter_error_before_any_work(
    options: dict[str, Any], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_data(*args: object, **kwargs: object) -> None:
        raise AssertionError("data loaded before the checks")

    monkeypatch.setattr(fedfix, "load_digits_split", no_data)
    settings: dict[str, Any] = {"clients": 3, "times": TAUS, **options}
    with pytest.raises(ParameterError, match=message):
        simulate_async(**settings)


# ----------------------------------------------------------------------------------------------- CLI


def parse(argv: list[str]) -> argparse.Namespace:
    parser = _Parser(prog="securecompute")
    commands = parser.add_subparsers(dest="command")
    register_commands(commands)
    return parser.parse_args(argv)


def test_simulate_async_prints_one_line_and_writes_the_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "async.png"
    options = parse(
        ["simulate", "async", "--policy", "fedfix", "--dt", "0.2", "--clients", "6", "--times", "F-80",
         "--horizon", "2", "--local-steps", "2", "--plot", str(target)]
    )  # fmt: skip
    assert options.handler(options) == 0
    line = capsys.readouterr().out.strip()
    assert "\n" not in line
    assert "fedfix(dt=0.2) on F-80" in line
    assert "final accuracy" in line
    assert target.read_bytes()[:4] == b"\x89PNG"


def test_simulate_async_other_policies_and_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    options = parse(["simulate", "async", "--policy", "fedbuff", "--c", "3", "--clients", "5", "--horizon", "1",
                     "--alpha", "0"])  # fmt: skip
    assert options.handler(options) == 0
    assert "fedbuff(c=3)" in capsys.readouterr().out
    bad = parse(["simulate", "async", "--policy", "fedfix", "--dt", "0"])
    with pytest.raises(ParameterError, match="dt"):
        bad.handler(bad)
    assert parse(["simulate", "byzantine", "--steps", "2"]).simulation == "byzantine"
    faulty = parse(["simulate", "async", "--policy", "async", "--clients", "4", "--horizon", "3", "--crash", "0.4",
                    "--downtime", "1.5"])  # fmt: skip
    assert faulty.handler(faulty) == 0
    assert re.search(r"lost [1-9]", capsys.readouterr().out)
    negative = parse(["simulate", "async", "--downtime", "-1"])
    with pytest.raises(ParameterError, match="downtime"):
        negative.handler(negative)

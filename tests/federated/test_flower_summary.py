"""``RobustStrategy.summary()`` says what the strategy really does, through Flower's own logger."""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("flwr", reason="the Flower deployment needs the optional extra [flower]")

from securecompute.federated.flower import robust_strategy


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def summary_of(**kwargs: object) -> str:
    handler, flower_logger = Collect(), logging.getLogger("flwr")
    flower_logger.addHandler(handler)
    try:
        robust_strategy(**kwargs).summary()  # type: ignore[arg-type]
    finally:
        flower_logger.removeHandler(handler)
    return "\n".join(handler.lines)


def test_summary_names_the_rule_and_that_example_counts_are_ignored() -> None:
    text = summary_of(aggregator="median", min_available_nodes=3)
    assert "global model + median over the replies' model deltas" in text
    assert "Example counts ('num-examples') are IGNORED" in text
    assert "Weighted by" not in text  # FedAvg's line, untrue for the model aggregation
    assert "Train metrics: median_metricrecords" in text
    assert "Evaluate metrics: Flower's average weighted by 'num-examples'" in text
    assert "available 3" in text


def test_summary_names_a_custom_key() -> None:
    text = summary_of(aggregator="flag", weighted_by_key="rows")
    assert "Example counts ('rows') are IGNORED" in text

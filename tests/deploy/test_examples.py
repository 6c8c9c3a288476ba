"""The app projects in examples/flower_deploy/: the ones the commands run, valid for Flower, importable."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import pytest

from securecompute.federated.deploy.project import APP_PYPROJECT, FEDFIX_PYPROJECT, TRAIN_PYPROJECT

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "flower_deploy"
PROJECTS = [("", APP_PYPROJECT), ("fedfix", FEDFIX_PYPROJECT), ("robust", TRAIN_PYPROJECT)]


@pytest.mark.parametrize(("folder", "text"), PROJECTS)
def test_each_example_is_the_project_its_command_runs(folder: str, text: str) -> None:
    path = EXAMPLES / folder / "pyproject.toml"
    assert path.read_text() == text
    parsed = tomllib.loads(text)
    assert "federations" not in parsed["tool"]["flwr"]  # flwr run would rewrite the file in place
    assert parsed["project"]["dependencies"] == ["securecompute[flower]"]


@pytest.mark.parametrize(("folder", "text"), PROJECTS)
def test_flower_accepts_each_example_and_its_apps_import(folder: str, text: str) -> None:
    pytest.importorskip("flwr", reason="the Flower apps need the optional extra [flower]")
    from flwr.cli.config_utils import load_and_validate
    from flwr.clientapp import ClientApp
    from flwr.serverapp import ServerApp

    # Flower's own check, as flwr run does it: required fields, and every component reference importable
    config, _ = load_and_validate(EXAMPLES / folder / "pyproject.toml", check_module=True)
    components = config["tool"]["flwr"]["app"]["components"]
    for key, kind in (("serverapp", ServerApp), ("clientapp", ClientApp)):
        module, attribute = components[key].split(":")
        assert isinstance(getattr(importlib.import_module(module), attribute), kind)
    defaults = config["tool"]["flwr"]["app"]["config"]
    assert "out" in defaults  # every app writes its result where the run config says

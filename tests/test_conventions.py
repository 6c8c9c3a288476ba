"""Shared conventions: errors, seeds, progress, lazy imports, no pickling."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import securecompute
from securecompute import errors
from securecompute.progress import progress, progress_enabled, set_progress
from securecompute.randomness import as_generator

PACKAGE = Path(securecompute.__file__).parent


def test_every_error_derives_from_secure_compute_error() -> None:
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.SecureComputeError)


def test_einsum_syntax_error_points_at_the_character() -> None:
    error = errors.EinsumSyntaxError("bad", "ij,j3->i", 4)
    assert error.pointer() == "ij,j3->i\n    ^"


def test_depth_error_carries_both_numbers() -> None:
    error = errors.DepthExhaustedError("needs 3 levels, 2 left", needed=3, available=2)
    assert (error.needed, error.available) == (3, 2)


def test_seed_gives_reproducible_generator() -> None:
    assert as_generator(7).integers(1 << 30) == as_generator(7).integers(1 << 30)
    generator = np.random.default_rng(1)
    assert as_generator(generator) is generator
    assert isinstance(as_generator(None), np.random.Generator)


@pytest.mark.parametrize("seed", [-1, 1.5, "7", True])
def test_bad_seed_is_refused(seed: object) -> None:
    with pytest.raises(errors.ParameterError, match="seed"):
        as_generator(seed)  # type: ignore[arg-type]


def test_progress_is_silent_when_not_watched(capsys: pytest.CaptureFixture[str]) -> None:
    set_progress(None)
    assert not progress_enabled()  # pytest captures stderr: no terminal
    assert list(progress(range(3), desc="work")) == [0, 1, 2]
    assert capsys.readouterr().err == ""


def test_progress_can_be_forced_on(capsys: pytest.CaptureFixture[str]) -> None:
    set_progress(True)
    try:
        assert list(progress(range(3), desc="forced")) == [0, 1, 2]
    finally:
        set_progress(None)
    assert "forced" in capsys.readouterr().err


def test_import_is_light() -> None:
    code = "import sys, securecompute; print(any(m.startswith('tenseal') for m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_cli_lists_commands_without_loading_tenseal() -> None:
    code = (
        "import sys, securecompute.cli as cli; cli.build_parser(); "
        "print(any(m.startswith('tenseal') for m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_library_never_unpickles_or_exits() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        if path.name != "cli.py" and "sys.exit(" in text:
            offenders.append(f"{path.name}: sys.exit")
        if "pickle.load" in text or "import pickle" in text:
            offenders.append(f"{path.name}: pickle")
    assert offenders == []

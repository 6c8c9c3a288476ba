"""The README's Python blocks run as written, each in a fresh namespace (what a user pasting them gets)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```$", README.read_text(), flags=re.DOTALL | re.MULTILINE)


def test_the_readme_has_python_blocks() -> None:
    assert len(BLOCKS) >= 7


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS, ids=[block.split("\n", 1)[0][:60] for block in BLOCKS])
def test_readme_block_runs_as_written(block: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # blocks that write plots write them here
    exec(compile(block, str(README), "exec"), {"__name__": "__readme__"})

"""Plots draw on a given Axes or a new Figure, save only when asked, and never switch matplotlib's backend."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest

from securecompute.errors import ParameterError
from securecompute.federated.simulation import run_byzantine
from securecompute.plotting import check_output_directory, check_output_file


@pytest.fixture(scope="module")
def history():  # type: ignore[no-untyped-def]
    return run_byzantine("mean", "none", workers=5, byzantine=1, steps=4, eval_every=2)


def test_plot_leaves_the_backend_and_pyplot_alone(history) -> None:  # type: ignore[no-untyped-def]
    import matplotlib.pyplot as plt

    before_backend, before_figures = matplotlib.get_backend(), plt.get_fignums()
    figure = history.plot()
    assert matplotlib.get_backend() == before_backend
    assert plt.get_fignums() == before_figures  # the figure is not in pyplot's manager: no stray windows
    assert len(figure.axes) == 2


def test_plot_draws_on_the_axes_given(history, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from matplotlib.figure import Figure

    figure = Figure()
    axis = figure.subplots()
    assert history.plot(ax=axis) is figure
    assert len(axis.lines) == 1
    assert not list(tmp_path.iterdir())  # nothing written without a path


def test_plot_refuses_a_wrong_number_of_axes(history) -> None:  # type: ignore[no-untyped-def]
    from matplotlib.figure import Figure

    axes = Figure().subplots(1, 3)
    with pytest.raises(ParameterError, match="ax has 3 axes"):
        history.plot(ax=axes)


def test_plot_path_is_checked_before_drawing(history, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ParameterError, match="does not exist"):
        history.plot(path=tmp_path / "missing" / "run.png")
    with pytest.raises(ParameterError, match=r"accepted: \.png"):
        history.plot(path=tmp_path / "run.txt")


@pytest.mark.parametrize(
    ("name", "message"),
    [(".", "is a directory"), ("run.gif", "ending '.gif'"), ("nowhere/run.png", "does not exist")],
)
def test_check_output_file_names_the_path(tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(ParameterError, match=message) as raised:
        check_output_file(tmp_path / name, (".png",), "plot")
    assert str(tmp_path) in str(raised.value)


def test_check_output_directory_refuses_a_file(tmp_path: Path) -> None:
    occupied = tmp_path / "report"
    occupied.write_text("")
    with pytest.raises(ParameterError, match="existing file"):
        check_output_directory(occupied)
    with pytest.raises(ParameterError, match="is a file, not a folder"):
        check_output_directory(occupied / "inside")
    assert check_output_directory(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"


def test_plt_show_still_renders_in_a_kernel_after_plot() -> None:
    """In a live Jupyter kernel: after ``.plot()``, a later cell's ``plt.show()`` still displays a PNG."""
    nbformat = pytest.importorskip(
        "nbformat", reason="a live kernel needs the dev extra (nbmake brings nbformat and nbclient)"
    )
    nbclient = pytest.importorskip(
        "nbclient", reason="a live kernel needs the dev extra (nbmake brings nbformat and nbclient)"
    )
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "from securecompute.federated.simulation import run_byzantine\n"
            "history = run_byzantine('mean', 'none', workers=5, byzantine=1, steps=2, eval_every=1)\n"
            "history.plot();"
        ),
        nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\nplt.show()"),
    ]
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    shown = [output for output in notebook.cells[1].outputs if "image/png" in output.get("data", {})]
    assert shown, f"plt.show() displayed nothing after .plot(): {notebook.cells[1].outputs}"

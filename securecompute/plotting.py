"""Figures without touching matplotlib's global state, and output paths checked before any work.

Plots follow matplotlib's and scikit-learn's ``Display.plot(ax=)`` convention: a method draws on the
``Axes`` it is given, or on a new :class:`matplotlib.figure.Figure` (not managed by pyplot, so
nothing pops up and nothing leaks between notebook cells), returns the figure, and writes a file only
when a path is given.  This module never calls ``matplotlib.use``: the user's backend (inline in a
notebook, a GUI window in a shell) stays what it was.  matplotlib is imported only when a plot is made.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from securecompute.errors import ParameterError

__all__ = [
    "IMAGE_SUFFIXES",
    "check_output_directory",
    "check_output_file",
    "finish_plot",
    "new_figure",
    "panels",
    "save_figure",
]

IMAGE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")
"""File name endings :func:`save_figure` writes (matplotlib's Agg, PDF and SVG writers)."""


def new_figure(rows: int = 1, columns: int = 1, figsize: tuple[float, float] = (6.0, 4.0)) -> tuple[Any, Any]:
    """A fresh ``Figure`` with a ``rows x columns`` grid of axes, outside pyplot's figure manager.

    Returns:
        ``(figure, axes)``: ``axes`` is one ``Axes`` for a 1 x 1 grid, else a numpy array of them.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize)
    return figure, figure.subplots(rows, columns, squeeze=True)


def panels(ax: Any, count: int, figsize: tuple[float, float]) -> tuple[Any, list[Any]]:
    """The figure and ``count`` axes to draw on: new ones when ``ax`` is None, else those given.

    Args:
        ax: None, one ``Axes`` (only the first panel is drawn) or a sequence of ``count`` Axes.
        count: how many panels the plot has.
        figsize: inches, used only for a new figure.

    Returns:
        ``(figure, axes)``; ``axes`` holds ``count`` entries, None for panels that were not asked for.

    Raises:
        ParameterError: ``ax`` is a sequence of the wrong length.
    """
    if ax is None:
        columns = 2 if count > 1 else 1
        figure, grid = new_figure((count + 1) // 2 if count > 1 else 1, columns, figsize)
        flat = list(grid.ravel()) if count > 1 else [grid]
        return figure, flat[:count]
    if isinstance(ax, Sequence) or hasattr(ax, "ravel"):
        given = list(ax.ravel()) if hasattr(ax, "ravel") else list(ax)
        if len(given) != count:
            raise ParameterError(f"ax has {len(given)} axes; accepted: one Axes or {count} of them")
        return given[0].figure, given
    return ax.figure, [ax] + [None] * (count - 1)


def finish_plot(figure: Any, ax: Any, first: Any, caption: str, path: str | Path | None) -> Any:
    """Title a plot (the figure's when it is ours, the first panel's when drawn on given axes), save it
    when ``path`` is given, and return the figure: the end of every ``plot(ax=, path=)`` method."""
    if ax is None:
        figure.suptitle(caption)
        figure.tight_layout()
    else:
        first.set_title(caption)
    if path is not None:
        save_figure(figure, path)
    return figure


def save_figure(figure: Any, path: str | Path, dpi: int = 100) -> Path:
    """Write ``figure`` to ``path`` (checked first, see :func:`check_output_file`); return the path."""
    target = check_output_file(path, IMAGE_SUFFIXES, "plot")
    figure.savefig(target, dpi=dpi)
    return target


def check_output_file(path: str | Path, suffixes: Sequence[str] | None = None, what: str = "output") -> Path:
    """Refuse, before any work, a file path that cannot be written.

    Args:
        path: where a file will be written.
        suffixes: accepted endings (lower case, with the dot), or None for any.
        what: the role of the file, used in the message (e.g. "plot", "proof").

    Raises:
        ParameterError: the path is a directory, its folder is missing or not writable, or the
            ending is not among ``suffixes``; the message names the path.
    """
    target = Path(path)
    if target.is_dir():
        raise ParameterError(f"{what} path {str(path)!r} is a directory; give a file name")
    if suffixes is not None and target.suffix.lower() not in suffixes:
        raise ParameterError(
            f"{what} path {str(path)!r} has ending {target.suffix or '(none)'!r}; accepted: {', '.join(suffixes)}"
        )
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise ParameterError(f"{what} path {str(path)!r}: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise ParameterError(f"{what} path {str(path)!r} is not writable")
    return target


def check_output_directory(path: str | Path, what: str = "output") -> Path:
    """Refuse, before any work, a folder that cannot be created or written (it is created later).

    Raises:
        ParameterError: the path is a file, or its nearest existing ancestor is not a writable folder.
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise ParameterError(f"{what} folder {str(path)!r} is an existing file; give a folder name")
    existing = next((folder for folder in (target, *target.parents) if folder.exists()), Path("."))
    if not existing.is_dir():
        raise ParameterError(f"{what} folder {str(path)!r}: {str(existing)!r} is a file, not a folder")
    if not os.access(existing, os.W_OK):
        raise ParameterError(f"{what} folder {str(path)!r} is not writable (no write access to {str(existing)!r})")
    return target

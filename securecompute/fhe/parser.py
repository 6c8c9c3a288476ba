"""Parse and validate einsum subscripts into a normalised :class:`EinsumSpec`.

The grammar and the acceptance rules reproduce ``numpy.einsum`` (its C implementation, used with
the default ``optimize=False``), which the tests use as the oracle.  Parsing never executes
anything: it only looks at the subscript string and the operand shapes.

The parser is hand-written on purpose: it is the point of the planner.  opt_einsum's parser
returns normalised strings, while the planner needs one label per axis (repeats kept), the
broadcast size of every label, generated labels for the axes under ``'...'`` and the exact
character position of every syntax error.

Grammar, where only the ASCII space is ignored (and not inside ``'->'`` or ``'...'``)::

    expression := term (',' term)* ['->' output]
    term       := (letter | '...')*          letters a-z, A-Z; at most one '...'
    output     := (letter | '...')*          no letter and no '...' twice

numpy behaviours reproduced here, each checked against numpy in the tests:

* implicit output: the labels that occur exactly once over all inputs, sorted by code point (so
  ``'A'``-``'Z'`` come before ``'a'``-``'z'``), preceded by the broadcast (``'...'``) axes;
* size-1 broadcasting applies to named labels across operands (``'ij,jk'`` with ``j`` of size 1
  in one operand and 3 in the other), but a label repeated inside one operand needs equal sizes;
* an explicit output without ``'...'`` is rejected as soon as some ellipsis covers an axis, even
  an axis of size 1;
* distinct letters plus broadcast axes may not exceed numpy's limit of 64.
"""

from __future__ import annotations

import operator
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from securecompute.errors import EinsumSyntaxError, ParameterError, ShapeError

__all__ = ["ELLIPSIS_PREFIX", "EinsumSpec", "parse_einsum"]

#: Generated labels of the axes under '...' are this prefix followed by the broadcast position
#: (0 = leftmost broadcast axis); they can never collide with the single-letter user labels.
ELLIPSIS_PREFIX = "\u2026"

_LETTERS = frozenset(string.ascii_letters)
_CANONICAL_LETTERS = string.ascii_lowercase + string.ascii_uppercase
_ACCEPTED = "subscripts are letters a-z and A-Z, ',', '->' and '...'"
_MAX_DIMS = 64  # numpy's NPY_MAXDIMS, which also bounds distinct labels plus broadcast axes

_Token = tuple[str, int]  # (letter | ',' | '->' | '...', position in the original string)


@dataclass(frozen=True)
class EinsumSpec:
    """A validated einsum: one label per operand axis, the output labels and every label's size.

    Labels of axes under ``'...'`` are generated (``ELLIPSIS_PREFIX`` + broadcast position) and
    are the same in every operand for the same right-aligned broadcast position.  ``sizes`` is
    derived from the other fields, so it takes no part in equality and hashing.
    """

    expression: str
    inputs: tuple[tuple[str, ...], ...]
    output: tuple[str, ...]
    sizes: Mapping[str, int] = field(compare=False)
    operand_shapes: tuple[tuple[int, ...], ...]

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of the result, in output label order."""
        return tuple(self.sizes[label] for label in self.output)

    @property
    def contracted(self) -> tuple[str, ...]:
        """Labels summed over (absent from the output), in order of first appearance."""
        kept = set(self.output)
        return tuple(label for label in _first_appearance(self.inputs) if label not in kept)

    def broadcast_axes(self, operand: int) -> tuple[int, ...]:
        """Axes of ``operand`` of size 1 whose label has another size (numpy size-1 broadcasting).

        A label of size 0 broadcast from an axis of size 1 counts as broadcast too.
        """
        count = len(self.inputs)
        if isinstance(operand, bool) or not isinstance(operand, int) or not 0 <= operand < count:
            raise ParameterError(f"einsum: operand index {_show(operand)} is invalid; accepted ints 0 to {count - 1}")
        labels, shape = self.inputs[operand], self.operand_shapes[operand]
        return tuple(
            axis
            for axis, (label, size) in enumerate(zip(labels, shape, strict=True))
            if size == 1 and self.sizes[label] != 1
        )

    def canonical(self) -> str:
        """Explicit single-letter form, relabelled in first-appearance order (a cache key).

        Generated ellipsis labels become ordinary letters, so the result is a valid
        ``numpy.einsum`` expression for the same operands.  Raises :class:`ShapeError` when more
        than 52 distinct labels (letters plus broadcast axes) cannot be spelled with letters.
        """
        order = _first_appearance(self.inputs)
        if len(order) > len(_CANONICAL_LETTERS):
            raise ShapeError(
                f"einsum: {len(order)} distinct labels in {self.expression!r} cannot be written "
                f"canonically; at most {len(_CANONICAL_LETTERS)} letters are available"
            )
        names = dict(zip(order, _CANONICAL_LETTERS, strict=False))
        terms = ",".join("".join(names[label] for label in labels) for labels in self.inputs)
        return terms + "->" + "".join(names[label] for label in self.output)


def parse_einsum(expression: str, *shapes: tuple[int, ...]) -> EinsumSpec:
    """Parse ``expression`` for operands of the given shapes, following ``numpy.einsum``.

    Raises:
        ParameterError: ``expression`` is not a str, or a shape is not a tuple of ints >= 0.
        EinsumSyntaxError: the subscript string is malformed (``.position`` points at it).
        ShapeError: term and operand counts differ, a term does not match its operand's number
            of axes, sizes conflict, or broadcast axes have no ``'...'`` in an explicit output.
    """
    if not isinstance(expression, str):
        raise ParameterError(f"einsum: expression must be a str, got {type(expression).__name__} {_show(expression)}")
    operand_shapes = tuple(_check_shape(shape, k) for k, shape in enumerate(shapes))
    terms, output_tokens = _split(expression, _tokenize(expression))
    if len(terms) != len(operand_shapes):
        raise ShapeError(
            f"einsum: {expression!r} has {len(terms)} comma-separated term(s) but "
            f"{len(operand_shapes)} operand(s) were given; give exactly one operand per term"
        )
    covered = [
        _ellipsis_cover(term, shape, k) for k, (term, shape) in enumerate(zip(terms, operand_shapes, strict=True))
    ]
    n_broadcast = max((len(cover) for cover in covered if cover is not None), default=0)
    letters = {token for term in terms for token, _ in term if token in _LETTERS}
    if len(letters) + n_broadcast > _MAX_DIMS:
        raise ShapeError(
            f"einsum: {len(letters)} distinct letters and {n_broadcast} broadcast axes exceed "
            f"numpy's limit of {_MAX_DIMS} labels in {expression!r}"
        )
    broadcast = tuple(f"{ELLIPSIS_PREFIX}{k}" for k in range(n_broadcast))
    inputs: list[tuple[str, ...]] = []
    for term, cover in zip(terms, covered, strict=True):
        axes: list[str] = []
        for token, _ in term:
            if token == "...":
                axes.extend(broadcast[n_broadcast - len(cover or ()) :])
            else:
                axes.append(token)
        inputs.append(tuple(axes))
    sizes = _sizes(inputs, operand_shapes)
    if output_tokens is None:
        counts: dict[str, int] = {}
        for term in terms:
            for token, _ in term:
                counts[token] = counts.get(token, 0) + 1
        once = sorted(token for token, n in counts.items() if n == 1 and token != "...")
        output = broadcast + tuple(once)
    else:
        output = _explicit_output(expression, output_tokens, broadcast)
    return EinsumSpec(
        expression=expression,
        inputs=tuple(inputs),
        output=output,
        sizes=MappingProxyType(sizes),
        operand_shapes=operand_shapes,
    )


def _tokenize(expression: str) -> list[_Token]:
    """Split into letters, ',', '->' and '...', dropping spaces; reject any other character."""
    tokens: list[_Token] = []
    i = 0
    while i < len(expression):
        char = expression[i]
        if char == " ":
            i += 1
            continue
        if char in _LETTERS or char == ",":
            tokens.append((char, i))
        elif char == "." and expression.startswith("...", i):
            tokens.append(("...", i))
            i += 2
        elif char == "-" and expression.startswith("->", i):
            tokens.append(("->", i))
            i += 1
        elif char == ".":
            raise _syntax(expression, i, "stray '.' (an ellipsis is exactly three dots '...')")
        elif char == "-":
            raise _syntax(expression, i, "'-' not immediately followed by '>'")
        elif char == ">":
            raise _syntax(expression, i, "'>' without a preceding '-'")
        else:
            raise _syntax(expression, i, f"invalid subscript {char!r}")
        i += 1
    return tokens


def _split(expression: str, tokens: list[_Token]) -> tuple[list[list[_Token]], list[_Token] | None]:
    """Group tokens into input terms and the output (None when implicit); check the output."""
    terms: list[list[_Token]] = [[]]
    output: list[_Token] | None = None
    for token, pos in tokens:
        if token == "->":
            if output is not None:
                raise _syntax(expression, pos, "second '->' (at most one output is allowed)")
            output = []
        elif output is not None:
            if token == ",":
                raise _syntax(expression, pos, "invalid subscript ',' in the output")
            output.append((token, pos))
        elif token == ",":
            terms.append([])
        else:
            terms[-1].append((token, pos))
    for term in terms:
        ellipses = [pos for token, pos in term if token == "..."]
        if len(ellipses) > 1:
            raise _syntax(expression, ellipses[1], "second '...' in one term")
    if output is not None:
        seen: set[str] = set()
        used = {token for term in terms for token, _ in term}
        for token, pos in output:
            if token in seen:
                raise _syntax(expression, pos, f"output subscript {token!r} repeated")
            if token != "..." and token not in used:
                raise _syntax(expression, pos, f"output subscript {token!r} appears in no input")
            seen.add(token)
    return terms, output


def _ellipsis_cover(term: list[_Token], shape: tuple[int, ...], k: int) -> tuple[int, ...] | None:
    """Sizes of the axes the term's '...' covers (None without '...'); check the axis count."""
    named = [token for token, _ in term if token != "..."]
    text = "".join(token for token, _ in term)
    if len(named) == len(term):
        if len(named) != len(shape):
            raise ShapeError(
                f"einsum: term {text!r} of operand {k} has {len(named)} label(s) but the operand "
                f"has {len(shape)} axes (shape {shape}); use one label per axis or add '...'"
            )
        return None
    if len(named) > len(shape):
        raise ShapeError(
            f"einsum: term {text!r} of operand {k} has {len(named)} label(s) besides '...' but "
            f"the operand has only {len(shape)} axes (shape {shape}); use at most {len(shape)}"
        )
    start = [token for token, _ in term].index("...")
    return shape[start : start + len(shape) - len(named)]


def _sizes(inputs: list[tuple[str, ...]], shapes: tuple[tuple[int, ...], ...]) -> dict[str, int]:
    """Broadcast size of every label: equal within an operand, equal or 1 across operands."""
    sizes: dict[str, int] = {}
    source: dict[str, int] = {}
    for k, (labels, shape) in enumerate(zip(inputs, shapes, strict=True)):
        local: dict[str, int] = {}
        for label, size in zip(labels, shape, strict=True):
            if local.setdefault(label, size) != size:
                raise ShapeError(
                    f"einsum: {_describe(label)} repeats in operand {k} with sizes "
                    f"{local[label]} and {size}; repeated labels in one operand need equal sizes"
                )
        for label, size in local.items():
            known = sizes.get(label)
            if known is None or (known == 1 and size != 1):
                sizes[label], source[label] = size, k
            elif size not in (known, 1):
                raise ShapeError(
                    f"einsum: {_describe(label)} has size {known} in operand {source[label]} and "
                    f"size {size} in operand {k}"
                )
    return sizes


def _explicit_output(expression: str, tokens: list[_Token], broadcast: tuple[str, ...]) -> tuple[str, ...]:
    """Output labels of an explicit output, with the broadcast axes placed at its '...'."""
    if broadcast and all(token != "..." for token, _ in tokens):
        output_text = expression[expression.index("->") + 2 :].strip()
        raise ShapeError(
            f"einsum: the operands have {len(broadcast)} broadcast axes under '...' but the "
            f"output {output_text!r} of {expression!r} has no '...' to place them; add '...'"
        )
    output: list[str] = []
    for token, _ in tokens:
        output.extend(broadcast if token == "..." else (token,))
    return tuple(output)


def _check_shape(shape: object, k: int) -> tuple[int, ...]:
    """Return ``shape`` as a tuple of Python ints, or raise ParameterError."""
    problem = f"einsum: shape of operand {k} must be a tuple of non-negative ints, got {_show(shape)}"
    if not isinstance(shape, tuple):
        raise ParameterError(problem)
    dims: list[int] = []
    for dim in shape:
        try:
            if isinstance(dim, bool):
                raise TypeError
            value = operator.index(dim)
        except TypeError:
            raise ParameterError(problem) from None
        if value < 0:
            raise ParameterError(problem)
        dims.append(value)
    return tuple(dims)


def _first_appearance(inputs: tuple[tuple[str, ...], ...]) -> list[str]:
    return list(dict.fromkeys(label for labels in inputs for label in labels))


def _describe(label: str) -> str:
    if label.startswith(ELLIPSIS_PREFIX):
        return f"broadcast axis {label[len(ELLIPSIS_PREFIX) :]} of '...'"
    return f"label {label!r}"


def _syntax(expression: str, position: int, what: str) -> EinsumSyntaxError:
    message = f"einsum: {what} at position {position} of {expression!r}; {_ACCEPTED}"
    return EinsumSyntaxError(message, expression, position)


def _show(value: object) -> str:
    """One-line, bounded repr of a user value for an error message."""
    text = repr(value).replace("\n", "\\n")
    return text if len(text) <= 80 else text[:77] + "..."

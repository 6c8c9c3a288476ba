"""Tests of the einsum subscript parser, with ``numpy.einsum`` as the oracle."""

from __future__ import annotations

import string

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from securecompute.errors import EinsumSyntaxError, ParameterError, SecureComputeError, ShapeError
from securecompute.fhe.parser import ELLIPSIS_PREFIX, EinsumSpec, parse_einsum

Shape = tuple[int, ...]


def _arrays(shapes: tuple[Shape, ...], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(-3, 4, size=shape) for shape in shapes]


VALID: list[tuple[str, tuple[Shape, ...]]] = [
    ("ij->ji", ((2, 3),)),
    ("ij->", ((2, 3),)),
    ("ij,jk", ((2, 3), (3, 4))),
    ("ij,jk->ik", ((2, 3), (3, 4))),
    ("i,i->", ((3,), (3,))),
    ("ijk->kji", ((2, 3, 4),)),
    ("ij,jk,kl->il", ((2, 3), (3, 4), (4, 5))),
    ("ik,jkl,il->ij", ((2, 3), (4, 3, 5), (2, 5))),
    ("pqrs,tuqvr->pstuv", ((2, 3, 4, 2), (2, 1, 3, 2, 4))),
    ("bthd,bThd->bhtT", ((2, 3, 2, 4), (2, 5, 2, 4))),
    ("Ba,bA", ((2, 3), (4, 5))),  # implicit: uppercase sorts before lowercase
    ("aA", ((2, 3),)),
    ("zZ,Zy", ((2, 3), (3, 4))),
    ("ba", ((2, 3),)),
    (" i j -> j i ", ((2, 3),)),
    ("i , j", ((2,), (3,))),
    ("i -> i", ((2,),)),
    (" ", ((),)),
    ("", ((),)),
    (",", ((), ())),
    ("->", ((),)),
    (",i->i", ((), (3,))),
    (",i", ((), (3,))),
    ("i,->i", ((2,), ())),
    ("ii->i", ((3, 3),)),
    ("ii->", ((3, 3),)),
    ("ii", ((3, 3),)),
    ("iij->j", ((2, 2, 3),)),
    ("ij,jk", ((2, 1), (3, 4))),  # named-label size-1 broadcasting
    ("ij,jk->ik", ((2, 3), (1, 4))),
    ("i,i", ((1,), (3,))),
    ("i,i->i", ((1,), (3,))),
    ("ij,ij->ij", ((2, 1), (1, 3))),
    ("ii,i->i", ((1, 1), (3,))),
    ("ii,i->i", ((2, 2), (1,))),
    ("i,i->i", ((0,), (1,))),
    ("...ij,...jk->...ik", ((2, 1, 3, 4), (5, 4, 2))),
    ("...ij,...jk", ((1, 1, 3, 4), (1, 4, 2))),
    ("...ij->...", ((1, 3, 4),)),
    ("...ij->ij", ((3, 4),)),  # the ellipsis covers no axis
    ("...", ((2, 3),)),
    ("...", ((),)),
    ("...->...", ((),)),
    ("...->", ((),)),
    ("i...->...", ((2, 3),)),
    ("i...", ((2, 3),)),
    ("...,...", ((2, 3), (3,))),
    ("...,...->...", ((0,), (1,))),
    ("...i,...i", ((2, 1, 3), (4, 3))),
    ("i,...->...i", ((3,), (2,))),
    ("i->...i", ((3,),)),
    ("ij->...", ((3, 2),)),
    ("i...i->...", ((3, 4, 3),)),
    ("i...i", ((3, 4, 3),)),
    ("ab...,...->...ab", ((2, 3, 4), (1,))),
    ("ab...,bc...->...", ((2, 3, 4), (3, 5, 1, 4))),
    ("a...b->b...a", ((2, 3, 4, 5),)),
    ("...,ij->", ((), (2, 3))),
    ("...,ij->...", ((), (2, 3))),
    ("a...,a->...", ((2, 3), (1,))),
]


@pytest.mark.parametrize(("expression", "shapes"), VALID)
def test_valid_expression_matches_numpy(expression: str, shapes: tuple[Shape, ...]) -> None:
    arrays = _arrays(shapes)
    expected = np.einsum(expression, *arrays)
    spec = parse_einsum(expression, *shapes)
    assert spec.output_shape == np.shape(expected)
    np.testing.assert_array_equal(np.einsum(spec.canonical(), *arrays), expected)


INVALID: list[tuple[str, tuple[Shape, ...], type[SecureComputeError], int | None]] = [
    ("ij,j3->i", ((2, 3), (3, 3)), EinsumSyntaxError, 4),
    ("i j,j 3->i", ((2, 3), (3, 3)), EinsumSyntaxError, 6),
    ("i\tj", ((2, 3),), EinsumSyntaxError, 1),
    ("i->é", ((2,),), EinsumSyntaxError, 3),
    ("i.->", ((2,),), EinsumSyntaxError, 1),
    ("i..->", ((2,),), EinsumSyntaxError, 1),
    ("....i->i", ((2,),), EinsumSyntaxError, 3),
    (". ..i", ((2, 3),), EinsumSyntaxError, 0),
    ("i...j...->i", ((2, 3),), EinsumSyntaxError, 5),
    ("i-i", ((2,),), EinsumSyntaxError, 1),
    ("i- >", ((2,),), EinsumSyntaxError, 1),
    ("i - > i", ((2,),), EinsumSyntaxError, 2),
    ("i>i", ((2,),), EinsumSyntaxError, 1),
    ("i->i->i", ((2,),), EinsumSyntaxError, 4),
    ("i->->", ((2,),), EinsumSyntaxError, 3),
    ("i->ii", ((2,),), EinsumSyntaxError, 4),
    ("ij->j i j", ((2, 3),), EinsumSyntaxError, 8),
    ("i->j", ((2,),), EinsumSyntaxError, 3),
    ("i->I", ((2,),), EinsumSyntaxError, 3),
    ("i->i,", ((2,),), EinsumSyntaxError, 4),
    ("i->i,i", ((2,),), EinsumSyntaxError, 4),
    ("i->......", ((2,),), EinsumSyntaxError, 6),
    ("i->.", ((2,),), EinsumSyntaxError, 3),
    ("i->i-", ((2,),), EinsumSyntaxError, 4),
    ("i->i>", ((2,),), EinsumSyntaxError, 4),
    ("ij", ((2,),), ShapeError, None),
    ("i", ((2, 3),), ShapeError, None),
    ("->", ((1,),), ShapeError, None),
    ("->i", ((2,),), EinsumSyntaxError, 2),
    (",", ((), (1,)), ShapeError, None),
    ("ij...", ((2,),), ShapeError, None),
    ("i,j", ((2,),), ShapeError, None),
    ("i,j->ij", ((2,),), ShapeError, None),
    ("i", ((2,), (3,)), ShapeError, None),
    ("", (), ShapeError, None),
    ("->", (), ShapeError, None),
    ("", ((), ()), ShapeError, None),
    ("ii", ((2, 3),), ShapeError, None),
    ("ii->i", ((1, 3),), ShapeError, None),
    ("i,i->", ((2,), (3,)), ShapeError, None),
    ("i,i", ((0,), (3,)), ShapeError, None),
    ("ij,ji->ij", ((2, 1), (1, 3)), ShapeError, None),
    ("...ij->ij", ((2, 3, 4),), ShapeError, None),
    ("...ij->ij", ((1, 3, 4),), ShapeError, None),  # numpy rejects even size-1 broadcast axes
    ("...ij,...jk->ik", ((2, 1, 3, 4), (5, 4, 2)), ShapeError, None),
    ("...->", ((2, 3),), ShapeError, None),
    ("i,...->i", ((3,), (2,)), ShapeError, None),
    ("...,...", ((2, 3), (2,)), ShapeError, None),
    ("...a,...a->...", ((2, 3, 4), (2, 4)), ShapeError, None),
    (
        string.ascii_letters[:40] + "...," + string.ascii_letters[40:] + "...",
        ((1,) * 53, (1,) * 25),
        ShapeError,
        None,
    ),  # 52 letters + 13 broadcast axes > numpy's 64
]


@pytest.mark.parametrize(("expression", "shapes", "error", "position"), INVALID)
def test_invalid_expression_rejected_like_numpy(
    expression: str, shapes: tuple[Shape, ...], error: type[SecureComputeError], position: int | None
) -> None:
    with pytest.raises(Exception):  # noqa: B017, PT011 - numpy's exception types vary
        np.einsum(expression, *_arrays(shapes))
    with pytest.raises(error) as info:
        parse_einsum(expression, *shapes)
    assert "\n" not in str(info.value)
    if position is not None:
        assert isinstance(info.value, EinsumSyntaxError)
        assert info.value.position == position
        assert info.value.expression == expression


def test_invalid_subscript_message_names_value_and_accepted_set() -> None:
    with pytest.raises(EinsumSyntaxError) as info:
        parse_einsum("ij,j3->i", (2, 3), (3, 3))
    assert str(info.value) == (
        "einsum: invalid subscript '3' at position 4 of 'ij,j3->i'; "
        "subscripts are letters a-z and A-Z, ',', '->' and '...'"
    )
    assert info.value.pointer() == "ij,j3->i\n    ^"


def test_size_conflict_message_names_label_sizes_and_operands() -> None:
    with pytest.raises(ShapeError, match=r"^einsum: label 'j' has size 3 in operand 0 and size 4 in operand 1$"):
        parse_einsum("ij,jk", (2, 3), (4, 5))


def test_term_count_mismatch_names_both_counts() -> None:
    with pytest.raises(ShapeError, match=r"2 comma-separated term\(s\) but 1 operand\(s\)"):
        parse_einsum("i,j", (2,))


def test_axis_count_mismatch_names_operand_labels_and_ndim() -> None:
    with pytest.raises(ShapeError, match=r"term 'ij' of operand 0 has 2 label\(s\) but the operand has 3 axes"):
        parse_einsum("ij", (2, 3, 4))


def test_repeated_label_with_unequal_sizes_in_one_operand_is_rejected() -> None:
    with pytest.raises(ShapeError, match=r"label 'i' repeats in operand 0 with sizes 1 and 3"):
        parse_einsum("ii->i", (1, 3))


def test_repeated_label_of_sizes_zero_and_two_is_rejected() -> None:
    # numpy 2.4's single-operand view path accepts 'ii->i' on shape (0, 2) and returns shape (2,),
    # a numpy bug (it rejects (2, 0)); the parser treats both orders alike and rejects them.
    for shape in ((0, 2), (2, 0)):
        with pytest.raises(ShapeError, match="need equal sizes"):
            parse_einsum("ii->i", shape)


def test_implicit_output_sorts_uppercase_before_lowercase() -> None:
    assert parse_einsum("Ba,bA", (2, 3), (4, 5)).output == ("A", "B", "a", "b")


def test_implicit_output_puts_broadcast_axes_first() -> None:
    spec = parse_einsum("i...", (2, 3))
    assert spec.output == (f"{ELLIPSIS_PREFIX}0", "i")
    assert spec.output_shape == (3, 2)


def test_implicit_output_drops_labels_repeated_within_one_operand() -> None:
    spec = parse_einsum("iij", (2, 2, 3))
    assert spec.output == ("j",)
    assert spec.contracted == ("i",)


def test_repeated_labels_are_kept_per_axis() -> None:
    assert parse_einsum("ii->i", (3, 3)).inputs == (("i", "i"),)


def test_ellipsis_labels_are_right_aligned_and_shared_between_operands() -> None:
    spec = parse_einsum("...ij,...jk->...ik", (2, 1, 3, 4), (5, 4, 2))
    e0, e1 = f"{ELLIPSIS_PREFIX}0", f"{ELLIPSIS_PREFIX}1"
    assert spec.inputs == ((e0, e1, "i", "j"), (e1, "j", "k"))
    assert spec.output == (e0, e1, "i", "k")
    assert dict(spec.sizes) == {e0: 2, e1: 5, "i": 3, "j": 4, "k": 2}
    assert spec.output_shape == (2, 5, 3, 2)
    assert spec.canonical() == "abcd,bde->abce"


def test_ellipsis_labels_cannot_collide_with_user_labels() -> None:
    spec = parse_einsum("a...b,...", (2, 3, 4), (3,))
    generated = [label for label in spec.sizes if label.startswith(ELLIPSIS_PREFIX)]
    assert generated == [f"{ELLIPSIS_PREFIX}0"]
    assert all(label not in string.ascii_letters for label in generated)


def test_named_label_broadcast_takes_the_larger_size() -> None:
    spec = parse_einsum("ij,jk", (2, 1), (3, 4))
    assert spec.sizes["j"] == 3
    assert spec.broadcast_axes(0) == (1,)
    assert spec.broadcast_axes(1) == ()


def test_label_of_size_one_everywhere_has_size_one() -> None:
    spec = parse_einsum("ij,jk->ik", (2, 1), (1, 4))
    assert spec.sizes["j"] == 1
    assert spec.broadcast_axes(0) == ()
    assert spec.broadcast_axes(1) == ()


def test_broadcast_axes_reports_ellipsis_axes() -> None:
    spec = parse_einsum("...ij,...jk->...ik", (2, 1, 3, 4), (5, 4, 2))
    assert spec.broadcast_axes(0) == (1,)
    assert spec.broadcast_axes(1) == ()


def test_broadcast_axes_rejects_bad_operand_index() -> None:
    spec = parse_einsum("ij,jk", (2, 3), (3, 4))
    for bad in (2, -1, True, "0"):
        with pytest.raises(ParameterError, match="operand index"):
            spec.broadcast_axes(bad)  # type: ignore[arg-type]


def test_contracted_lists_summed_labels_in_first_appearance_order() -> None:
    assert parse_einsum("ik,jkl,il->ij", (2, 3), (4, 3, 5), (2, 5)).contracted == ("k", "l")


def test_explicit_output_places_broadcast_axes_at_its_ellipsis() -> None:
    spec = parse_einsum("ab...,...->...ab", (2, 3, 4), (1,))
    assert spec.output == (f"{ELLIPSIS_PREFIX}0", "a", "b")
    assert spec.output_shape == (4, 2, 3)


def test_canonical_is_independent_of_label_names_and_spaces() -> None:
    first = parse_einsum("ij,jk->ik", (2, 3), (3, 4)).canonical()
    assert first == "ab,bc->ac"
    assert parse_einsum(" x y , y Z -> x Z ", (2, 3), (3, 4)).canonical() == first
    assert parse_einsum("ij,jk", (2, 3), (3, 4)).canonical() == first


def test_canonical_raises_when_labels_exceed_the_alphabet() -> None:
    spec = parse_einsum(string.ascii_letters + "...", (1,) * 53)
    with pytest.raises(ShapeError, match="53 distinct labels"):
        spec.canonical()


def test_spec_is_frozen_hashable_and_sizes_read_only() -> None:
    spec = parse_einsum("ij,jk", (2, 3), (3, 4))
    assert isinstance(spec, EinsumSpec)
    assert hash(spec) == hash(parse_einsum("ij,jk", (2, 3), (3, 4)))
    assert spec == parse_einsum("ij,jk", (2, 3), (3, 4))
    with pytest.raises(TypeError):
        spec.sizes["i"] = 5  # type: ignore[index]
    with pytest.raises(AttributeError):
        spec.output = ()  # type: ignore[misc]


def test_expression_is_kept_as_given() -> None:
    assert parse_einsum(" i -> i", (2,)).expression == " i -> i"


def test_numpy_integer_dims_are_normalised_to_int() -> None:
    spec = parse_einsum("ij", (np.int64(2), np.int32(3)))  # type: ignore[arg-type]
    assert spec.operand_shapes == ((2, 3),)
    assert all(type(dim) is int for dim in spec.operand_shapes[0])


def test_non_str_expression_is_a_parameter_error() -> None:
    with pytest.raises(ParameterError, match="expression must be a str, got bytes"):
        parse_einsum(b"ij", (2, 3))  # type: ignore[arg-type]


@pytest.mark.parametrize("shape", [[2, 3], (2, -1), (2, 1.0), (True, 2), (2, "3"), None])
def test_bad_shape_is_a_parameter_error(shape: object) -> None:
    with pytest.raises(ParameterError, match="shape of operand 1 must be a tuple of non-negative ints"):
        parse_einsum("i,ij", (2,), shape)  # type: ignore[arg-type]


_ALPHABET = "abcAB"


@st.composite
def _cases(draw: st.DrawFn) -> tuple[str, tuple[Shape, ...]]:
    """A random expression with mostly consistent shapes, sometimes broken on purpose."""
    label_size = {label: draw(st.integers(1, 3)) for label in _ALPHABET}
    ellipsis_shape = draw(st.lists(st.integers(1, 3), max_size=2))

    def rare(odds: int) -> bool:  # True at most about once in odds + 1 draws (index 0 is favoured)
        return draw(st.sampled_from([False] * odds + [True]))

    def size(natural: int) -> int:  # mostly consistent, often size-1 broadcast, rarely a conflict
        kind = draw(st.sampled_from(["same"] * 16 + ["one"] * 3 + ["any"]))
        return natural if kind == "same" else 1 if kind == "one" else draw(st.integers(1, 3))

    terms: list[list[str]] = []
    shapes: list[Shape] = []
    for _ in range(draw(st.integers(1, 4))):
        labels = draw(st.lists(st.sampled_from(_ALPHABET), max_size=4))
        tokens, shape = list(labels), [size(label_size[label]) for label in labels]
        if draw(st.booleans()):
            at = draw(st.integers(0, len(labels)))
            covered = ellipsis_shape[len(ellipsis_shape) - draw(st.integers(0, len(ellipsis_shape))) :]
            tokens.insert(at, "...")
            shape[at:at] = [size(dim) for dim in covered]
        if rare(19):
            drop: bool = bool(shape) and draw(st.booleans())
            shape = shape[1:] if drop else [*shape, 2]
        terms.append(tokens)
        shapes.append(tuple(shape))
    if rare(29):
        shapes = shapes[:-1] if len(shapes) > 1 else [*shapes, (2,)]
    output: list[str] | None = None
    if draw(st.booleans()):
        used = sorted({token for tokens in terms for token in tokens if token != "..."})
        if rare(9):
            output = draw(st.lists(st.sampled_from(_ALPHABET), max_size=3))
        else:
            output = draw(st.permutations(used))[: draw(st.integers(0, len(used)))]
        if not rare(3):
            output.insert(draw(st.integers(0, len(output))), "...")
    space = st.sampled_from(["", "", "", " "])
    text = ",".join(draw(space).join(tokens) for tokens in terms)
    if output is not None:
        text += draw(space) + "->" + draw(space) + draw(space).join(output)
    return text, tuple(shapes)


@settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_cases())
def test_random_expressions_agree_with_numpy(case: tuple[str, tuple[Shape, ...]]) -> None:
    expression, shapes = case
    arrays = _arrays(shapes, seed=len(expression))
    try:
        expected = np.einsum(expression, *arrays)
    except Exception:
        with pytest.raises(SecureComputeError):
            parse_einsum(expression, *shapes)
        return
    spec = parse_einsum(expression, *shapes)
    assert spec.output_shape == np.shape(expected)
    np.testing.assert_array_equal(np.einsum(spec.canonical(), *arrays), expected)

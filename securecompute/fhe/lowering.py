"""Lower one contraction (of one or two operands) to CKKS SIMD steps, choosing the cheapest way.

Each contraction is lowered in a *joint order* of its labels.  Every encrypted operand is placed
in that order: free when its storage already is the innermost part of the order (periodic layouts
replicate it along the outer labels at no cost), otherwise one sparse linear transform followed by
log-step replication of the labels it lacks.  The operands are multiplied slot-wise; with one
encrypted operand the plaintext operands are multiplied slot-wise when the placement is free, or
folded into the placing transform otherwise, so every ciphertext x plaintext einsum costs one
level.  Then the reduced labels are summed: the leading block of reduced labels by a rotate-and-sum
that leaves exact replicas, every other reduced label in place, which leaves garbage at its
nonzero indices (a *filler* axis of the result's layout, see :mod:`securecompute.fhe.layout`).
A direct transform from the input layout to the output layout is costed as an alternative, and
joint orders are searched over permutations of all labels (heuristic orders when there are more
than four: each encrypted operand's storage innermost, reduced labels outermost), so that operands
need replication rather than permutation.

:func:`choose_contraction` only costs candidates, from label geometry and cached diagonal counts,
and rules out any whose grid or diagonals exceed the limits; :func:`build_contraction` builds the
steps of the one chosen.  The planner's tree search calls the first many times and the second once
per contraction of the chosen tree.

See ``protocols/einhops.md`` for the notation, formulas and diagrams.
"""

from __future__ import annotations

import functools
import itertools
from contextvars import ContextVar
from dataclasses import dataclass
from math import prod

import numpy as np

from securecompute.errors import ParameterError
from securecompute.fhe.backend import CostModel
from securecompute.fhe.geometry import (
    MAX_GRID,
    Node,
    index_grid,
    is_free,
    label_strides,
    map_entries,
    padded_sizes,
    plain_values,
    suffix_of,
    unique,
)
from securecompute.fhe.layout import TensorLayout, next_power_of_two
from securecompute.fhe.lineartransform import MAX_DIAGONAL_ELEMENTS, build_linear_transform, count_diagonals
from securecompute.fhe.steps import (
    LinearStep,
    MultiplyPlainStep,
    MultiplyStep,
    ReduceAxisStep,
    ReplicateStep,
    RotateSumStep,
    Step,
    TileStep,
    doubling_steps,
)

__all__ = [
    "Choice",
    "Lowering",
    "RegisterCounter",
    "build_contraction",
    "choose_contraction",
    "critical_levels",
    "lower_contraction",
    "plaintext_contraction",
    "relayout",
]

# Relative time of one operation, in units of one rotation: the engine's cost model
# (securecompute.fhe.backend.CostModel), set by plan.build_plan for the duration of one planning.
COSTS: ContextVar[CostModel] = ContextVar("einsum_cost_model", default=CostModel())  # noqa: B039 (frozen)
FULL_SEARCH_LABELS = 4  # joint orders: every permutation up to this many labels, heuristic orders above


@dataclass
class Lowering:
    """The steps of one contraction, its result node, and its cost."""

    steps: list[Step]
    result: Node
    levels: int
    time: float

    @property
    def cost(self) -> tuple[int, float]:
        return (self.levels, self.time)


@dataclass(frozen=True)
class Choice:
    """The cheapest way found to lower one contraction, costed but not built.

    ``result`` has the result's labels and layout and no register; :func:`build_contraction`
    turns a choice into steps.
    """

    kind: str  # "joint" or "direct"
    order: tuple[str, ...]
    levels: int
    time: float
    result: Node

    @property
    def cost(self) -> tuple[int, float]:
        return (self.levels, self.time)


class RegisterCounter:
    """Hands out fresh register numbers for the whole plan (never reused)."""

    def __init__(self, start: int) -> None:
        self.next = start

    def new(self) -> int:
        self.next += 1
        return self.next - 1


def plaintext_contraction(operands: list[Node], kept: tuple[str, ...]) -> Node:
    """Contract plaintext nodes with numpy; the result's axes follow ``kept``."""
    letters: dict[str, str] = {}
    for label in itertools.chain(*(node.labels for node in operands), kept):
        letters.setdefault(
            label, chr(ord("a") + len(letters)) if len(letters) < 26 else chr(ord("A") + len(letters) - 26)
        )
    terms = ",".join("".join(letters[label] for label in node.labels) for node in operands)
    expression = f"{terms}->{''.join(letters[label] for label in kept)}"
    values = [node.values for node in operands if node.values is not None]
    # numpy's unoptimised einsum loops over every label at once; a path keeps many operands cheap.
    optimize = "greedy" if len(values) > 2 else False
    return Node(kept, values=np.einsum(expression, *values, optimize=optimize))


def lower_contraction(
    operands: list[Node],
    kept: set[str],
    sizes: dict[str, int],
    slots: int,
    registers: RegisterCounter,
    filler_penalty: int = 0,
) -> Lowering:
    """Choose and build the cheapest lowering of one contraction of one or two nodes.

    Raises:
        ParameterError: no lowering fits (every candidate's grid or diagonals exceed the limits).
    """
    choice = choose_contraction(operands, kept, sizes, slots, filler_penalty)
    if choice is None:
        labels = unique(itertools.chain(*(node.labels for node in operands)))
        raise ParameterError(
            f"no lowering fits for labels {labels}: every candidate exceeds {MAX_GRID} grid points "
            f"or {MAX_DIAGONAL_ELEMENTS} diagonal values"
        )
    return build_contraction(operands, choice, sizes, slots, registers)


def choose_contraction(
    operands: list[Node],
    kept: set[str],
    sizes: dict[str, int],
    slots: int,
    filler_penalty: int = 0,
    grid_limit: int = MAX_GRID,
) -> Choice | None:
    """The cheapest lowering of one contraction of one or two nodes, costed only (no steps built).

    Args:
        operands: one or two nodes, at least one encrypted.
        kept: labels the result keeps; every other label of the operands is summed over.
        sizes: unpadded size of every label.
        slots: S.
        filler_penalty: levels to charge a lowering whose result has filler axes (1 when the
            result will be masked clean, so that a filler-free lowering wins when it is as deep).

        grid_limit: refuse (None) a contraction over more grid points than this.

    Returns:
        None when no candidate fits the grid and diagonal limits.
    """
    encrypted = [node for node in operands if node.encrypted]
    plain = [node for node in operands if not node.encrypted]
    all_labels = unique(itertools.chain(*(node.labels for node in operands)))
    if prod(sizes[label] for label in all_labels) > grid_limit:
        return None
    reduced = [label for label in all_labels if label not in kept]
    kept_labels = [label for label in all_labels if label in kept]
    plain_joint = (
        plaintext_contraction(plain, tuple(unique(itertools.chain(*(node.labels for node in plain)))))
        if plain
        else None
    )
    best: tuple[tuple[int, float], str, tuple[str, ...]] | None = None
    for order in _orders(reduced, kept_labels, encrypted):
        cost = _joint_cost(encrypted, plain_joint, order, set(reduced), sizes, slots)
        if cost is not None:
            reduction = _reduction(order, set(reduced), sizes, slots)
            if filler_penalty and reduction is not None and reduction.inner:
                cost = (cost[0] + filler_penalty, cost[1] + reduction.chunks * COSTS.get().plain_multiply)
            if best is None or cost < best[0]:
                best = (cost, "joint", order)
    if len(encrypted) == 1:
        for output_order in _output_orders(kept_labels, encrypted[0]):
            cost = _direct_cost(encrypted[0], plain_joint, all_labels, output_order, sizes, slots)
            if cost is not None and (best is None or cost < best[0]):
                best = (cost, "direct", output_order)
    if best is None:
        return None
    (levels, time), kind, order = best
    if kind == "direct":
        result = _result_node(order, sizes, slots, None)
    else:
        result = _joint_result(order, set(reduced), sizes, slots)
    return Choice(kind, order, levels, time, result)


def build_contraction(
    operands: list[Node], choice: Choice, sizes: dict[str, int], slots: int, registers: RegisterCounter
) -> Lowering:
    """The steps of ``choice`` on these operands (whose registers are set)."""
    encrypted = [node for node in operands if node.encrypted]
    plain = [node for node in operands if not node.encrypted]
    all_labels = unique(itertools.chain(*(node.labels for node in operands)))
    plain_joint = (
        plaintext_contraction(plain, tuple(unique(itertools.chain(*(node.labels for node in plain)))))
        if plain
        else None
    )
    if choice.kind == "direct":
        return _build_direct(encrypted[0], plain_joint, all_labels, choice.order, sizes, slots, registers)
    reduced = {label for label in all_labels if label not in choice.result.labels}
    return _build_joint(encrypted, plain_joint, choice.order, reduced, sizes, slots, registers)


def relayout(
    node: Node, order: tuple[str, ...], sizes: dict[str, int], slots: int, registers: RegisterCounter
) -> Lowering:
    """Move ``node`` into the clean row-major layout of ``order`` (its labels, or more to broadcast along).

    One linear transform (a level); labels of ``order`` the node lacks are replicated.

    Raises:
        ParameterError: the transform exceeds the grid or diagonal limits.
    """
    if _diagonals(node, order, order, sizes, slots) is None:
        raise ParameterError(f"moving labels {node.labels} to row-major {order} exceeds the transform limits")
    return _build_direct(node, None, list(order), order, sizes, slots, registers)


# --- candidate orders ----------------------------------------------------------------------


def _orders(reduced: list[str], kept: list[str], encrypted: list[Node]) -> list[tuple[str, ...]]:
    """Joint orders to try: every permutation when few, else reduced-outermost ones and heuristics."""
    labels = reduced + kept
    if len(labels) <= FULL_SEARCH_LABELS:
        return list(itertools.permutations(labels))
    orders = {tuple(reduced) + tuple(kept)}
    if prod(range(1, len(reduced) + 1)) * prod(range(1, len(kept) + 1)) <= 24:
        orders |= {r + k for r in itertools.permutations(reduced) for k in itertools.permutations(kept)}
    for node in encrypted:
        storage = node.storage_labels()
        missing = [label for label in labels if label not in storage]
        orders.add(tuple(missing) + tuple(label for label in storage if label in labels))
        rank = {label: position for position, label in enumerate(storage)}
        orders.add(
            tuple(sorted(reduced, key=lambda label: rank.get(label, -1)))
            + tuple(sorted(kept, key=lambda label: rank.get(label, -1)))
        )
        # This node free (its storage innermost), the other labels outside it, reduced ones first:
        others = [label for label in labels if label not in rank]
        outer_reduced = [label for label in others if label in reduced]
        for other in encrypted:
            if other is not node:
                other_rank = {label: position for position, label in enumerate(other.storage_labels())}
                others_sorted = sorted(others, key=lambda label: (label not in reduced, other_rank.get(label, -1)))
                orders.add(tuple(others_sorted) + tuple(label for label in storage if label in labels))
        orders.add(
            tuple(outer_reduced)
            + tuple(label for label in others if label not in reduced)
            + tuple(label for label in storage if label in labels)
        )
    return sorted(order for order in orders if len(order) == len(labels))


def _output_orders(kept: list[str], node: Node) -> list[tuple[str, ...]]:
    """Result orders a direct transform may write: all when few, else the node's storage order and first appearance."""
    if len(kept) <= 3:
        return list(itertools.permutations(kept))
    rank = {label: position for position, label in enumerate(node.storage_labels())}
    return [tuple(kept), tuple(sorted(kept, key=lambda label: rank.get(label, len(rank))))]


# --- costing -----------------------------------------------------------------------------------


def _placement(node: Node, order: tuple[str, ...], sizes: dict[str, int], slots: int) -> tuple[int, float] | None:
    """(levels, time) to put ``node`` into the joint order without plaintext folding."""
    if is_free(node, order, sizes):
        return (0, 0.0)
    suffix = suffix_of(node, order)
    labels = unique(list(node.labels))
    diagonals = _diagonals(node, tuple(labels), suffix, sizes, slots)
    if diagonals is None:
        return None
    strides = label_strides(suffix, sizes)
    period = prod(padded_sizes(suffix, sizes))
    chunks = max(1, period // slots)
    missing = [label for label in suffix if label not in labels]
    replications = sum(
        chunks * sum(1 for m in doubling_steps(next_power_of_two(sizes[label])) if strides[label] * m < slots)
        for label in missing
    )
    rotations = 2.0 * np.sqrt(diagonals) + replications
    return (1, rotations * COSTS.get().rotation + diagonals * COSTS.get().diagonal)


@dataclass(frozen=True)
class _Reduction:
    """How a joint order's reduced labels are summed: the outermost block cleanly, the rest in place."""

    outer: int  # padded size of the leading block of reduced labels
    rest: tuple[str, ...]  # the labels after that block
    inner: tuple[tuple[str, int, int], ...]  # (label, stride, padded size) of each reduced label in ``rest``
    chunks: int  # ciphertexts once the outer block is summed

    def rotations(self, joint_period: int, slots: int) -> int:
        outer = RotateSumStep(0, 0, self.outer, joint_period // self.outer, slots).rotations if self.outer > 1 else 0
        return outer + self.chunks * sum(len(doubling_steps(size)) for _, _, size in self.inner)


def _reduction(order: tuple[str, ...], reduced: set[str], sizes: dict[str, int], slots: int) -> _Reduction | None:
    """Split the reduction of ``order``; None when an in-place one would cross ciphertexts."""
    lead = 0
    while lead < len(order) and order[lead] in reduced:
        lead += 1
    rest = order[lead:]
    strides = label_strides(rest, sizes)
    inner = tuple(
        (label, strides[label], next_power_of_two(sizes[label]))
        for label in rest
        if label in reduced and sizes[label] > 1
    )
    if any(stride * size > slots for _, stride, size in inner):
        return None
    period = prod(padded_sizes(rest, sizes))
    return _Reduction(prod(padded_sizes(order[:lead], sizes)), rest, inner, max(1, period // slots))


def _joint_cost(
    encrypted: list[Node],
    plain_joint: Node | None,
    order: tuple[str, ...],
    reduced: set[str],
    sizes: dict[str, int],
    slots: int,
) -> tuple[int, float] | None:
    reduction = _reduction(order, reduced, sizes, slots)
    if reduction is None:
        return None
    joint_period = prod(padded_sizes(order, sizes))
    chunks = max(1, joint_period // slots)
    reduce_time = reduction.rotations(joint_period, slots) * COSTS.get().rotation
    if len(encrypted) == 2:
        placements = [_placement(node, order, sizes, slots) for node in encrypted]
        if any(p is None for p in placements):
            return None
        levels = max(p[0] for p in placements if p is not None) + 1
        time = sum(p[1] for p in placements if p is not None) + chunks * COSTS.get().ciphertext_multiply
        return (levels, time + reduce_time)
    (node,) = encrypted
    if is_free(node, order, sizes):
        levels = 1 if plain_joint is not None else 0
        return (levels, chunks * COSTS.get().plain_multiply * levels + reduce_time)
    if plain_joint is None:
        placement = _placement(node, order, sizes, slots)
        if placement is None:
            return None
        return (placement[0], placement[1] + reduce_time)
    diagonals = _diagonals(node, order, order, sizes, slots)
    if diagonals is None:
        return None
    return (1, 2.0 * np.sqrt(diagonals) * COSTS.get().rotation + diagonals * COSTS.get().diagonal + reduce_time)


def _direct_cost(
    node: Node,
    plain_joint: Node | None,
    labels: list[str],
    output_order: tuple[str, ...],
    sizes: dict[str, int],
    slots: int,
) -> tuple[int, float] | None:
    diagonals = _diagonals(node, tuple(labels), output_order, sizes, slots)
    if diagonals is None:
        return None
    output_period = prod(padded_sizes(output_order, sizes))
    assert node.layout is not None
    period = max(node.layout.period, output_period) if max(node.layout.period, output_period) <= slots else slots
    replicate = len(doubling_steps(period // output_period)) if output_period < period else 0
    return (1, (2.0 * np.sqrt(diagonals) + replicate) * COSTS.get().rotation + diagonals * COSTS.get().diagonal)


def _diagonals(
    node: Node, grid_labels: tuple[str, ...], target: tuple[str, ...], sizes: dict[str, int], slots: int
) -> int | None:
    """Diagonals of the map from ``node``'s layout to ``target`` over ``grid_labels``; None if too large.

    Plaintext factors only remove entries, so the count without them bounds the built transform.
    """
    assert node.layout is not None
    relevant = tuple(sorted((label, sizes[label]) for label in {*grid_labels, *target, *node.labels}))
    return _cached_diagonals(node.labels, node.layout, grid_labels, target, relevant, slots)


@functools.lru_cache(maxsize=1 << 16)
def _cached_diagonals(
    labels: tuple[str, ...],
    layout: TensorLayout,
    grid_labels: tuple[str, ...],
    target: tuple[str, ...],
    relevant_sizes: tuple[tuple[str, int], ...],
    slots: int,
) -> int | None:
    sizes = dict(relevant_sizes)
    entries = map_entries(Node(labels, layout), list(grid_labels), target, sizes)
    if entries is None:
        return None
    output_period = prod(padded_sizes(target, sizes))
    diagonals = count_diagonals(entries[0], entries[1], layout.period, output_period, slots)
    return diagonals if diagonals * slots <= MAX_DIAGONAL_ELEMENTS else None


# --- building ----------------------------------------------------------------------------------


def _result_node(order: tuple[str, ...], sizes: dict[str, int], slots: int, register: int | None) -> Node:
    shape = tuple(sizes[label] for label in order)
    return Node(order, TensorLayout(shape, tuple(range(len(order))), slots), register)


def _linear(
    source: Node,
    dst: np.ndarray,
    src: np.ndarray,
    values: np.ndarray,
    output_period: int,
    slots: int,
    registers: RegisterCounter,
    purpose: str,
) -> tuple[list[Step], int]:
    """A linear step plus, when its output is shorter than its period, the replication after it."""
    assert source.layout is not None and source.register is not None
    keep = values != 0
    transform = build_linear_transform(dst[keep], src[keep], values[keep], source.layout.period, output_period, slots)
    steps: list[Step] = [LinearStep(registers.new(), source.register, transform, purpose)]
    if output_period < transform.period:
        count = transform.period // output_period
        steps.append(ReplicateStep(registers.new(), steps[-1].target, output_period, count, 1, slots, "period"))
    return steps, steps[-1].target


def _build_direct(
    node: Node,
    plain_joint: Node | None,
    labels: list[str],
    output_order: tuple[str, ...],
    sizes: dict[str, int],
    slots: int,
    registers: RegisterCounter,
) -> Lowering:
    entries = map_entries(node, labels, output_order, sizes, plain_joint)
    assert entries is not None
    output_period = prod(padded_sizes(output_order, sizes))
    steps, register = _linear(node, *entries, output_period, slots, registers, "direct linear transform")
    return _finish(steps, _result_node(output_order, sizes, slots, register))


def _place(
    node: Node, order: tuple[str, ...], sizes: dict[str, int], slots: int, registers: RegisterCounter
) -> tuple[list[Step], int]:
    """Steps putting ``node`` into the joint order; returns them and the register of the result."""
    assert node.register is not None
    if is_free(node, order, sizes):
        return [], node.register
    suffix = suffix_of(node, order)
    labels = unique(list(node.labels))
    entries = map_entries(node, labels, suffix, sizes)
    assert entries is not None
    strides = label_strides(suffix, sizes)
    period = prod(padded_sizes(suffix, sizes))
    steps, register = _linear(node, *entries, period, slots, registers, "place operand")
    for label in suffix:
        if label not in labels and sizes[label] > 1:
            count = next_power_of_two(sizes[label])
            steps.append(
                ReplicateStep(registers.new(), register, strides[label], count, max(1, period // slots), slots, label)
            )
            register = steps[-1].target
    return steps, register


def _tile(
    steps: list[Step], register: int, node_period: int, joint_period: int, slots: int, registers: RegisterCounter
) -> int:
    if joint_period > slots and node_period < joint_period:
        steps.append(TileStep(registers.new(), register, joint_period // slots))
        return steps[-1].target
    return register


def _build_joint(
    encrypted: list[Node],
    plain_joint: Node | None,
    order: tuple[str, ...],
    reduced: set[str],
    sizes: dict[str, int],
    slots: int,
    registers: RegisterCounter,
) -> Lowering:
    joint_period = prod(padded_sizes(order, sizes))
    joint_layout = TensorLayout(tuple(sizes[label] for label in order), tuple(range(len(order))), slots)
    steps: list[Step] = []
    placed: list[int] = []
    if len(encrypted) == 1 and plain_joint is not None and not is_free(encrypted[0], order, sizes):
        entries = map_entries(encrypted[0], list(order), order, sizes, plain_joint)
        assert entries is not None
        linear, register = _linear(
            encrypted[0], *entries, joint_period, slots, registers, "place and multiply by plaintext"
        )
        steps += linear
        placed.append(register)
        plain_joint = None
    else:
        for node in encrypted:
            placement, register = _place(node, order, sizes, slots, registers)
            steps += placement
            free = is_free(node, order, sizes)
            assert node.layout is not None
            period = node.layout.period if free else prod(padded_sizes(suffix_of(node, order), sizes))
            placed.append(_tile(steps, register, period, joint_period, slots, registers))
    register = placed[0]
    chunks = max(1, joint_period // slots)
    if len(placed) == 2:
        steps.append(MultiplyStep(registers.new(), placed[0], placed[1], chunks))
        register = steps[-1].target
    if plain_joint is not None:
        grid = index_grid(list(order), sizes)
        assert grid is not None
        size = next(iter(grid.values())).size if grid else 1
        values = plain_values(plain_joint, grid, size)
        assert values is not None
        aligned = values.reshape(tuple(sizes[label] for label in order))
        steps.append(MultiplyPlainStep(registers.new(), register, joint_layout.pack(aligned)))
        register = steps[-1].target
    reduction = _reduction(order, reduced, sizes, slots)
    assert reduction is not None
    if reduction.outer > 1:
        labels = ",".join(order[: len(order) - len(reduction.rest)])
        steps.append(
            RotateSumStep(registers.new(), register, reduction.outer, joint_period // reduction.outer, slots, labels)
        )
        register = steps[-1].target
    for label, stride, size in reduction.inner:
        steps.append(ReduceAxisStep(registers.new(), register, stride, size, reduction.chunks, slots, label))
        register = steps[-1].target
    result = _joint_result(order, reduced, sizes, slots)
    return _finish(steps, Node(result.labels, result.layout, register))


def _joint_result(order: tuple[str, ...], reduced: set[str], sizes: dict[str, int], slots: int) -> Node:
    """Labels and layout (no register) a joint lowering in ``order`` leaves: summed labels become fillers."""
    reduction = _reduction(order, reduced, sizes, slots)
    assert reduction is not None
    kept = tuple(label for label in reduction.rest if label not in reduced)
    storage = tuple(
        kept.index(label) if label not in reduced else -next_power_of_two(sizes[label])
        for label in reduction.rest
        if label not in reduced or sizes[label] > 1
    )
    return Node(kept, TensorLayout(tuple(sizes[label] for label in kept), storage, slots))


def _finish(steps: list[Step], result: Node) -> Lowering:
    levels = critical_levels(steps)
    cost = COSTS.get()
    time = sum(
        step.rotations * cost.rotation
        + step.plaintext_multiplications * cost.diagonal
        + step.ciphertext_multiplications * cost.ciphertext_multiply
        for step in steps
    )
    return Lowering(steps, result, levels, time)


def critical_levels(steps: list[Step], start: int | None = None) -> int:
    """Longest chain of level-consuming steps; from register ``start`` only, when given."""
    depth: dict[int, int] = {} if start is None else {start: 0}
    for step in steps:
        sources = [source for source in step.sources() if start is None or source in depth]
        if start is None or sources:
            depth[step.target] = max((depth.get(source, 0) for source in sources), default=0) + step.levels
    return max(depth.values(), default=0)

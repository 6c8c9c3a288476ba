"""Plan an einsum over encrypted and plain operands: contraction tree, steps, cost, explanation.

``build_plan`` splits the einsum into pairwise contractions, choosing the tree by dynamic
programming over subsets of operands (greedily beyond five operands), costed first in levels and
then in estimated time; plaintext-only subtrees are contracted with numpy while planning.  The
search only costs candidate contractions (:func:`~securecompute.fhe.lowering.choose_contraction`,
which rules out any whose grid or diagonals exceed the limits); the steps of the chosen tree alone
are built afterwards, so planning time stays in proportion to the tensors.  The plan can be printed
(:meth:`EinsumPlan.explain`), costed (depth, rotations, Galois keys, ciphertexts) and executed on
any backend by :mod:`securecompute.fhe.execute`; planning never touches a ciphertext.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from securecompute.errors import ParameterError, ShapeError
from securecompute.fhe.backend import CostModel
from securecompute.fhe.geometry import MAX_GRID, Node
from securecompute.fhe.layout import TensorLayout, next_power_of_two
from securecompute.fhe.lowering import (
    COSTS,
    Choice,
    RegisterCounter,
    build_contraction,
    choose_contraction,
    critical_levels,
    lower_contraction,
    plaintext_contraction,
    relayout,
)
from securecompute.fhe.parser import EinsumSpec
from securecompute.fhe.steps import MultiplyPlainStep, Step

__all__ = ["EinsumPlan", "build_plan"]

EXHAUSTIVE_OPERANDS = 5
PLAIN_FIRST_ELEMENTS = 1 << 16  # largest joint plaintext contracted up front
PROPORTIONATE_GRID = 1 << 16  # grid points of one contraction allowed in the first search


@dataclass
class EinsumPlan:
    """A lowered einsum, ready to run.

    Attributes:
        spec: the parsed einsum.
        encrypted: per operand, whether it is a ciphertext.
        leaf_registers: register of each encrypted operand.
        groups: (title, steps) per contraction, in execution order.
        output_register: register holding the result.
        output_layout: layout of the result over the einsum's output axes.
        leaf_depth: levels consumed between each encrypted operand and the result.
        slots: S.
        galois_key_bytes: size of one Galois key for this context's parameters (0 if unknown).
        cost_model: the engine's cost model the plan was chosen under (weights, Galois convention).
    """

    spec: EinsumSpec
    encrypted: tuple[bool, ...]
    leaf_registers: dict[int, int]
    groups: list[tuple[str, list[Step]]]
    output_register: int
    output_layout: TensorLayout
    leaf_depth: dict[int, int]
    slots: int
    galois_key_bytes: int = 0
    input_layouts: dict[int, TensorLayout] = field(default_factory=dict)
    cost_model: CostModel = field(default_factory=CostModel)

    @property
    def steps(self) -> list[Step]:
        return [step for _, steps in self.groups for step in steps]

    @property
    def depth(self) -> int:
        """Multiplicative levels the plan consumes (the most over its encrypted operands)."""
        return max(self.leaf_depth.values(), default=0)

    @property
    def rotations(self) -> int:
        """Ciphertext rotations performed."""
        return sum(step.rotations for step in self.steps)

    @property
    def rotation_steps(self) -> frozenset[int]:
        """Distinct left-rotation steps (mod S); each needs one Galois key."""
        return frozenset(step for item in self.steps for step in item.rotation_steps())

    @property
    def galois_elements(self) -> list[int]:
        """Galois elements of the rotation steps in the engine's convention (SEAL's: 3^k mod 2N, N = 2S)."""
        return sorted(self.cost_model.galois_element(step, self.slots) for step in self.rotation_steps)

    @property
    def key_bytes(self) -> int:
        """Bytes of the Galois keys the plan needs."""
        return len(self.rotation_steps) * self.galois_key_bytes

    @property
    def plaintext_multiplications(self) -> int:
        return sum(step.plaintext_multiplications for step in self.steps)

    @property
    def ciphertext_multiplications(self) -> int:
        return sum(step.ciphertext_multiplications for step in self.steps)

    @property
    def ciphertexts(self) -> int:
        """Ciphertexts of the result."""
        return self.output_layout.chunks

    @property
    def input_ciphertexts(self) -> int:
        return sum(layout.chunks for layout in self.input_layouts.values())

    def explain(self) -> str:
        """A readable account of the layouts, steps and costs."""
        lines = [f"einsum {self.spec.expression!r}  (slots S = {self.slots})"]
        for operand, shape in enumerate(self.spec.operand_shapes):
            if self.encrypted[operand]:
                layout = self.input_layouts[operand]
                lines.append(
                    f"  operand {operand}: encrypted {shape}, {layout.chunks} ciphertext(s), "
                    f"period {layout.period}, needs {self.leaf_depth[operand]} level(s)"
                )
            else:
                lines.append(f"  operand {operand}: plaintext {shape}")
        for title, steps in self.groups:
            lines.append(f"  {title}")
            lines += [f"    - {step.describe()}" for step in steps] or ["    - relabel only (free)"]
        storage = (
            ", ".join(self.spec.output[a] if a >= 0 else f"filler {-a}" for a in self.output_layout.storage) or "scalar"
        )
        lines.append(
            f"  result: shape {self.output_layout.shape}, {self.ciphertexts} ciphertext(s), storage order ({storage})"
        )
        keys = f", Galois keys {self.key_bytes / 2**20:.1f} MiB" if self.galois_key_bytes else ""
        lines.append(
            f"  cost: depth {self.depth}, rotations {self.rotations} ({len(self.rotation_steps)} distinct steps{keys}), "
            f"plaintext mults {self.plaintext_multiplications}, ciphertext mults {self.ciphertext_multiplications}"
        )
        return "\n".join(lines)


@dataclass
class _Partial:
    """A costed subtree: its result node (no register until built), and how to build it."""

    node: Node
    levels: int
    time: float
    operands: tuple[int, ...]
    children: tuple[_Partial, ...] = ()
    choice: Choice | None = None

    @property
    def cost(self) -> tuple[int, float]:
        return (self.levels, self.time)


def build_plan(
    spec: EinsumSpec,
    layouts: Sequence[TensorLayout | None],
    plain: Sequence[np.ndarray | None],
    slots: int,
    galois_key_bytes: int = 0,
    clean: bool = False,
    cost_model: CostModel | None = None,
    row_major: bool = False,
) -> EinsumPlan:
    """Plan ``spec`` for operands that are encrypted (a layout) or plain (values).

    With ``clean``, garbage left in filler slots of the result is multiplied away (one level), so
    that decrypting the result reveals nothing beyond its values (see protocols/einhops.md).
    ``cost_model``: the engine's weights and key sizes (default: SEAL's); its ``galois_key_bytes``
    is used when ``galois_key_bytes`` is 0.
    With ``row_major``, the result is moved (one linear transform, when it is not there already)
    into the layout a fresh encryption of its shape has, so that it adds slot-wise to one.

    Raises:
        ParameterError: no operand is encrypted, or a contraction is too large to lower.
        ShapeError: an encrypted operand has an axis of size 0.
    """
    cost_model = cost_model or CostModel(galois_key_bytes=galois_key_bytes)
    token = COSTS.set(cost_model)
    try:
        return _build_plan(
            spec, layouts, plain, slots, galois_key_bytes or cost_model.galois_key_bytes, clean, row_major
        )
    finally:
        COSTS.reset(token)


def _build_plan(
    spec: EinsumSpec,
    layouts: Sequence[TensorLayout | None],
    plain: Sequence[np.ndarray | None],
    slots: int,
    galois_key_bytes: int,
    clean: bool,
    row_major: bool,
) -> EinsumPlan:
    if not any(layout is not None for layout in layouts):
        raise ParameterError("einsum has no encrypted operand: use numpy.einsum for plaintext operands")
    sizes = dict(spec.sizes)
    if any(sizes[label] == 0 for label in sizes):
        raise ShapeError(f"einsum {spec.expression!r} has a label of size 0; encrypted tensors need sizes >= 1")
    registers = RegisterCounter(0)
    leaves, leaf_registers, input_layouts = [], {}, {}
    for operand, (layout, values) in enumerate(zip(layouts, plain, strict=True)):
        drop = spec.broadcast_axes(operand)
        labels = tuple(label for axis, label in enumerate(spec.inputs[operand]) if axis not in drop)
        if layout is not None:
            register = registers.new()
            leaf_registers[operand], input_layouts[operand] = register, layout
            node = Node(labels, _squeeze(layout, drop), register)
        else:
            assert values is not None
            node = Node(labels, values=np.squeeze(np.asarray(values, dtype=np.float64), axis=drop))
        leaves.append(_Partial(node, 0, 0.0, (operand,)))
    penalty = 1 if clean else 0
    # Trees whose contractions stay near the operands' size first; the full limit only if none fits.
    # A joint plaintext can cost a level where separate ones sit in parallel branches ('ab,ab,cd,cd->'
    # with both ab and both cd split): with few operands the tree over the separate leaves competes.
    joint = _plain_first(leaves, spec, sizes)
    variants = [joint, leaves] if joint is not leaves and len(leaves) <= EXHAUSTIVE_OPERANDS else [joint]
    for grid_limit in (PROPORTIONATE_GRID, MAX_GRID):
        roots = [_contract_all(variant, spec, sizes, slots, penalty, grid_limit) for variant in variants]
        built = [candidate for candidate in roots if candidate.choice is not None]
        root = min(built, key=lambda candidate: candidate.cost) if built else roots[0]
        if root.choice is not None or len(leaves) == 1:
            break
    if root.choice is None and len(leaves) > 1:
        raise ParameterError(
            f"einsum {spec.expression!r}: no contraction order fits the grid and diagonal limits for "
            f"operands of shapes {list(spec.operand_shapes)}"
        )
    groups: list[tuple[str, list[Step]]] = []
    node = _build(root, sizes, slots, registers, groups)
    assert node.layout is not None and node.register is not None
    output = set(spec.output)
    if set(node.labels) != output or len(set(node.labels)) != len(node.labels):
        lowering = lower_contraction([node], output, sizes, slots, registers, penalty)
        groups = [*groups, (_title([node], lowering.result.labels), lowering.steps)]
        node = lowering.result
        assert node.layout is not None and node.register is not None
    output_register = node.register
    assert output_register is not None
    assert node.layout is not None
    if row_major and _row_major_layout(node, spec, sizes) != TensorLayout.row_major(spec.output_shape, slots):
        lowering = relayout(node, spec.output, sizes, slots, registers)
        groups = [*groups, ("relayout to row-major", lowering.steps)]
        node = lowering.result
        output_register = node.register
        assert node.layout is not None and output_register is not None
    output_layout = _row_major_layout(node, spec, sizes)
    if clean and output_layout.has_fillers:
        mask = MultiplyPlainStep(registers.new(), output_register, output_layout.pack(np.ones(output_layout.shape)))
        groups = [*groups, ("clean result: zero the filler slots", [mask])]
        output_register = mask.target
    steps = [step for _, group in groups for step in group]
    leaf_depth = {operand: critical_levels(steps, register) for operand, register in leaf_registers.items()}
    return EinsumPlan(
        spec,
        tuple(layout is not None for layout in layouts),
        leaf_registers,
        groups,
        output_register,
        output_layout,
        leaf_depth,
        slots,
        galois_key_bytes,
        input_layouts,
        COSTS.get(),
    )


def _row_major_layout(node: Node, spec: EinsumSpec, sizes: dict[str, int]) -> TensorLayout:
    """The layout of ``node`` over the einsum's output axes."""
    assert node.layout is not None
    storage = tuple(spec.output.index(node.labels[axis]) if axis >= 0 else axis for axis in node.layout.storage)
    return TensorLayout(spec.output_shape, storage, node.layout.slots)


def _squeeze(layout: TensorLayout, drop: tuple[int, ...]) -> TensorLayout:
    """The same storage seen without the size-1 axes in ``drop``."""
    if not drop:
        return layout
    renumber = {axis: new for new, axis in enumerate(a for a in range(len(layout.shape)) if a not in drop)}
    shape = tuple(size for axis, size in enumerate(layout.shape) if axis not in drop)
    storage = tuple(renumber.get(axis, axis) for axis in layout.storage if axis not in drop)
    return TensorLayout(shape, storage, layout.slots)


def _plain_first(leaves: list[_Partial], spec: EinsumSpec, sizes: dict[str, int]) -> list[_Partial]:
    """Contract all plaintext operands into one with numpy first, unless their product is large.

    A plaintext factor folds into a ciphertext contraction at the cost of one level wherever it
    joins, so one joint plaintext costs one level where separate ones could cost one each; and the
    search then runs over the encrypted operands plus one.  Leaves are renumbered (``operands``
    index the returned list).
    """
    plain = [leaf for leaf in leaves if not leaf.node.encrypted]
    if len(plain) < 2:
        return leaves
    encrypted = [leaf for leaf in leaves if leaf.node.encrypted]
    needed = set(spec.output) | {label for leaf in encrypted for label in leaf.node.labels}
    labels = dict.fromkeys(label for leaf in plain for label in leaf.node.labels)
    kept = tuple(label for label in labels if label in needed)
    if np.prod([sizes[label] for label in kept], dtype=np.float64) > PLAIN_FIRST_ELEMENTS:
        return leaves
    joint = _Partial(plaintext_contraction([leaf.node for leaf in plain], kept), 0, 0.0, ())
    return [replace(leaf, operands=(position,)) for position, leaf in enumerate([*encrypted, joint])]


def _contract_all(
    leaves: list[_Partial],
    spec: EinsumSpec,
    sizes: dict[str, int],
    slots: int,
    penalty: int,
    grid_limit: int,
) -> _Partial:
    """Best contraction tree; ``penalty`` levels are charged to a root result with fillers."""
    if len(leaves) == 1:
        return leaves[0]
    if len(leaves) > EXHAUSTIVE_OPERANDS:
        return _greedy(leaves, spec, sizes, slots, penalty, grid_limit)
    best: dict[frozenset[int], _Partial] = {frozenset(p.operands): p for p in leaves}
    everything = frozenset(range(len(leaves)))
    for size in range(2, len(leaves) + 1):
        for subset in map(frozenset, itertools.combinations(range(len(leaves)), size)):
            members = sorted(subset)
            for count in range(1, size // 2 + 1):
                for left in map(frozenset, itertools.combinations(members, count)):
                    right = subset - left
                    if count * 2 == size and min(left) > min(right):
                        continue
                    rest = everything - subset
                    if left not in best or right not in best:
                        continue
                    if subset in best and _lower_bound(best[left], best[right]) >= best[subset].cost:
                        continue  # a ciphertext contraction adds at least a level and no time back
                    candidate = _merge(best[left], best[right], rest, leaves, spec, sizes, slots, penalty, grid_limit)
                    if candidate is not None and (subset not in best or candidate.cost < best[subset].cost):
                        best[subset] = candidate
    return best.get(everything, leaves[0])


def _lower_bound(left: _Partial, right: _Partial) -> tuple[int, float]:
    """No contraction of these two costs less (one level at least when either is encrypted)."""
    encrypted = left.node.encrypted or right.node.encrypted
    return (max(left.levels, right.levels) + int(encrypted), left.time + right.time)


def _greedy(
    partials: list[_Partial],
    spec: EinsumSpec,
    sizes: dict[str, int],
    slots: int,
    penalty: int,
    grid_limit: int,
) -> _Partial:
    """Best of a few greedy passes, each merging the pair that is cheapest under its own key.

    One key is the plan cost (levels, time); the others put the merged result's slot count
    first, so that intermediates stay in proportion to the operands (a pass that merges the
    cheapest pair first can be left with an outer product no lowering fits).
    """
    keys: list[Callable[[_Partial], tuple[float, ...]]] = [
        lambda p: p.cost,
        lambda p: (_footprint(p.node, sizes), *p.cost),
        lambda p: (p.levels, _footprint(p.node, sizes), p.time),
    ]
    everything = frozenset(range(len(partials)))
    memo: dict[tuple[object, ...], _Partial | None] = {}
    results = []
    for key in keys:
        pool = list(partials)
        while len(pool) > 1:
            options = []
            for a, b in itertools.combinations(range(len(pool)), 2):
                signature = (pool[a].operands, pool[b].operands, id(pool[a]), id(pool[b]))
                if signature not in memo:
                    used = frozenset(pool[a].operands) | frozenset(pool[b].operands)
                    memo[signature] = _merge(
                        pool[a], pool[b], everything - used, partials, spec, sizes, slots, penalty, grid_limit
                    )
                merged = memo[signature]
                if merged is not None:
                    options.append((a, b, merged))
            if not options:
                break
            a, b, merged = min(options, key=lambda item: key(item[2]))
            pool = [p for k, p in enumerate(pool) if k not in (a, b)] + [merged]
        if len(pool) == 1:
            results.append(pool[0])
    return min(results, key=lambda p: p.cost, default=partials[0])


def _footprint(node: Node, sizes: dict[str, int]) -> int:
    """Padded slots a result occupies (its period), the measure of an intermediate's size."""
    if node.layout is not None:
        return node.layout.period
    return int(np.prod([next_power_of_two(sizes[label]) for label in node.labels], dtype=np.int64))


def _merge(
    left: _Partial,
    right: _Partial,
    rest: frozenset[int],
    leaves: list[_Partial],
    spec: EinsumSpec,
    sizes: dict[str, int],
    slots: int,
    penalty: int,
    grid_limit: int,
) -> _Partial | None:
    """Cost contracting two subtrees (plaintext pairs with numpy, now); None if no lowering fits."""
    needed = set(spec.output) | {label for operand in rest for label in leaves[operand].node.labels}
    labels = list(dict.fromkeys(left.node.labels + right.node.labels))
    kept = tuple(label for label in labels if label in needed)
    operands = left.operands + right.operands
    levels = max(left.levels, right.levels)
    if not left.node.encrypted and not right.node.encrypted:
        node = plaintext_contraction([left.node, right.node], kept)
        return _Partial(node, levels, left.time + right.time, operands)
    final_penalty = penalty if not rest else 0
    choice = choose_contraction([left.node, right.node], set(kept), sizes, slots, final_penalty, grid_limit)
    if choice is None:
        return None
    return _Partial(
        choice.result, levels + choice.levels, left.time + right.time + choice.time, operands, (left, right), choice
    )


def _build(
    partial: _Partial,
    sizes: dict[str, int],
    slots: int,
    registers: RegisterCounter,
    groups: list[tuple[str, list[Step]]],
) -> Node:
    """Build the steps of a costed tree, children first, appending one group per contraction."""
    if partial.choice is None:
        return partial.node
    operands = [_build(child, sizes, slots, registers, groups) for child in partial.children]
    lowering = build_contraction(operands, partial.choice, sizes, slots, registers)
    groups.append((_title(operands, lowering.result.labels), lowering.steps))
    return lowering.result


def _title(nodes: list[Node], result: tuple[str, ...]) -> str:
    def name(node: Node) -> str:
        kind = "ct" if node.encrypted else "pt"
        return f"{kind}[{''.join(label[-1] if len(label) > 1 else label for label in node.labels)}]"

    reduced = sorted({label for node in nodes for label in node.labels} - set(result))
    over = f" summing {','.join(reduced)}" if reduced else ""
    return f"contract {' x '.join(name(node) for node in nodes)} -> [{''.join(result)}]{over}"

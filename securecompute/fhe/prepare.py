"""Plans prepared for one engine: every plaintext operand encoded once, at the level where it is used.

Encoding a slot vector (an inverse FFT, then one NTT per prime) costs about as much as the ct x pt
product it feeds, and a plan's diagonals and masks are the same on every call.  :func:`prepare`
walks the plan once on a level-only stand-in for the engine (no ciphertext work) to learn the
level of every plaintext multiplication, and encodes each plaintext there with
:meth:`~securecompute.fhe.backend.CKKSEngine.encode`; :func:`~securecompute.fhe.execute.execute_plan`
then takes them from the :class:`PreparedPlan`.  A plaintext met at a level not prepared for
(operands at other levels than assumed) is encoded on first use and kept.

Memory: one plaintext per plaintext multiplication, each about N x (level + 1) x 8 bytes on SEAL;
``plan.plaintext_multiplications`` says how many.  The front end keeps a few prepared plans per
engine (``securecompute.fhe.frontend``).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from securecompute.errors import DepthExhaustedError, ParameterError
from securecompute.fhe.backend import CKKSEngine
from securecompute.fhe.execute import execute_plan
from securecompute.fhe.plan import EinsumPlan

__all__ = ["PreparedPlan", "prepare"]


class PreparedPlan:
    """A plan and its plaintexts encoded for one engine, keyed by (plan array identity, row, level).

    The plan holds its arrays for as long as this object lives, so their identities stay unique.
    The engine is held weakly: a prepared plan (or einsum's cache of them, keyed weakly by engine)
    never keeps an engine, and with it its keys, alive.

    Attributes:
        plan: the plan the plaintexts belong to (run this one, not a rebuilt copy).
        engine: the engine they were encoded for.
        encoded: plaintexts encoded so far.
    """

    def __init__(self, plan: EinsumPlan, engine: CKKSEngine[Any, Any]) -> None:
        if engine.slots != plan.slots:
            raise ParameterError(
                f"the plan was made for {plan.slots} slots; this engine has {engine.slots}: plan it for this one"
            )
        self.plan = plan
        self._engine = weakref.ref(engine)
        self._plaintexts: dict[tuple[int, int, int], Any] = {}
        self._levels_done: set[tuple[tuple[int, int], ...]] = set()

    @property
    def engine(self) -> CKKSEngine[Any, Any]:
        """The engine the plaintexts were encoded for.

        Raises:
            ParameterError: that engine no longer exists (its context was dropped).
        """
        engine = self._engine()
        if engine is None:
            raise ParameterError("the engine this plan was prepared for no longer exists; prepare the plan again")
        return engine

    def __repr__(self) -> str:
        return f"<PreparedPlan plaintexts={self.encoded} steps={len(self.plan.steps)}>"

    @property
    def encoded(self) -> int:
        return len(self._plaintexts)

    def plaintext(self, values: np.ndarray, level: int, where: tuple[int, int]) -> Any:
        """The engine plaintext of ``values`` for ciphertexts at ``level``.

        ``where``: (identity of the plan's array holding ``values``, row in it or -1), stable for the plan's life.
        """
        key = (*where, level)
        found = self._plaintexts.get(key)
        if found is None:
            found = self._plaintexts[key] = self.engine.encode(values, level)
        return found

    def prepare_for(self, levels: Mapping[int, int]) -> None:
        """Encode every plaintext for encrypted operands at ``levels`` (operand -> levels left), once.

        Raises:
            DepthExhaustedError: an operand has fewer levels than the plan consumes from it.
            ParameterError: ``levels`` does not name exactly the plan's encrypted operands.
        """
        signature = tuple(sorted(levels.items()))
        if signature in self._levels_done:
            return
        if set(levels) != set(self.plan.leaf_registers):
            raise ParameterError(
                f"prepare needs a level for each encrypted operand {sorted(self.plan.leaf_registers)}, "
                f"got {sorted(levels)}"
            )
        short = {operand: level for operand, level in levels.items() if level < self.plan.leaf_depth[operand]}
        if short:
            operand, level = next(iter(short.items()))
            needed = self.plan.leaf_depth[operand]
            raise DepthExhaustedError(
                f"the plan consumes {needed} level(s) from operand {operand}, prepared for {level}", needed, level
            )
        inputs = {operand: [level] * self.plan.input_layouts[operand].chunks for operand, level in levels.items()}
        execute_plan(self.plan, inputs, _LevelTracker(), self, show_progress=False)
        self._levels_done.add(signature)


def prepare(plan: EinsumPlan, engine: CKKSEngine[Any, Any], levels: Mapping[int, int] | None = None) -> PreparedPlan:
    """``plan``'s plaintexts encoded for ``engine``, for operands at ``levels`` (default: all fresh).

    Raises:
        DepthExhaustedError: the plan needs more levels than the operands have.
    """
    prepared = PreparedPlan(plan, engine)
    top = engine.params.depth
    prepared.prepare_for(levels if levels is not None else dict.fromkeys(plan.leaf_registers, top))
    return prepared


class _LevelTracker:
    """A stand-in engine whose "ciphertexts" are their levels: runs a plan's level accounting only.

    Plaintext multiplications fetch their plaintext from the prepared plan, which encodes it.
    """

    level_only = True  # execute_plan: runs a prepared plan although it is not the plan's engine

    def level(self, ciphertext: int, /) -> int:
        return ciphertext

    def rotate(self, ciphertext: int, step: int, /) -> int:
        return ciphertext

    def rotate_many(self, ciphertext: int, steps: Sequence[int], /) -> list[int]:
        return [ciphertext] * len(steps)

    def add(self, left: int, right: int, /) -> int:
        return min(left, right)

    def multiply(self, left: int, right: int, /) -> int:
        return _spend(min(left, right))

    def multiply_plain(self, ciphertext: int, values: Any, /) -> int:
        return _spend(ciphertext)

    def dot_plain(self, ciphertexts: Sequence[int], values: Sequence[Any], /) -> int:
        return _spend(min(ciphertexts))

    def zeros(self, level: int, /) -> int:
        return level


def _spend(level: int) -> int:
    if level < 1:
        raise DepthExhaustedError("the plan multiplies a ciphertext with 0 levels left", needed=1, available=0)
    return level - 1

"""The 15 EinHops benchmark cases, run settings and targets shared by the einsum benchmark scripts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

POLY_MODULUS_DEGREE = 32768
SCALE_BITS = 40
TENSEAL_THREADS = 2
MAX_DENSE_ENTRIES = 1 << 24  # never hand TenSEAL a plain matrix larger than this (128 MiB of float64)

BENCHMARKS: tuple[tuple[str, str, tuple[tuple[int, ...], ...]], ...] = (
    ("01", "ij->ji", ((128, 128),)),
    ("02", "ij->", ((128, 128),)),
    ("03", "ij->j", ((128, 128),)),
    ("04", "ij->i", ((128, 128),)),
    ("05", "ik,k->i", ((128, 128), (128,))),
    ("06", "ik,kj->ij", ((16, 32), (32, 32))),
    ("07", "i,i->", ((16384,), (16384,))),
    ("08", "ij,ij->", ((128, 128), (128, 128))),
    ("09", "ij,ij->ij", ((128, 128), (128, 128))),
    ("10", "i,j->ij", ((128,), (128,))),
    ("11", "ijk,ikl->ijl", ((16, 8, 8), (16, 8, 8))),
    ("12", "ij,ij,ij->ij", ((128, 128), (128, 128), (128, 128))),
    ("13", "ij,jk,kl->il", ((16, 8), (8, 8), (8, 16))),
    ("14", "ik,jkl,il->ij", ((8, 16), (8, 16, 16), (8, 16))),
    ("15", "pqrs,tuqvr->pstuv", ((2, 4, 8, 8), (1, 4, 4, 2, 8))),
)

# Issue targets: (id, variant) -> seconds, and the minimum speed-up over TenSEAL's public API.
LATENCY_TARGETS = {("06", "ct x ct"): 1.5, ("05", "ct x pt"): 2.0}
SPEEDUP_TARGET = 5.0


@dataclass(frozen=True)
class Settings:
    quick: bool
    repeats: int
    real_budget_s: float  # run a TenSEAL matmul route for real when its estimate is below this
    calibration_rows: int  # input length of the timed calibration matmul
    tensor_cap: int  # most index combinations per contraction in the CKKSTensor slice
    naive_sample_s: float  # seconds of timed per-element work before extrapolating
    naive_full_s: float  # finish the per-element run when its estimate (with encryption) is below this

    @classmethod
    def make(cls, quick: bool, repeats: int | None) -> Settings:
        if quick:
            return cls(True, repeats or 1, 5.0, 32, 32, 1.0, 5.0)
        return cls(False, repeats or 3, 20.0, 128, 128, 3.0, 20.0)


@dataclass(frozen=True)
class Case:
    id: str
    expression: str
    shapes: tuple[tuple[int, ...], ...]
    encrypted: tuple[bool, ...]

    @property
    def variant(self) -> str:
        return " x ".join("ct" if e else "pt" for e in self.encrypted)

    @property
    def depth(self) -> int:
        return 4 if len(self.shapes) == 3 else 3

    @property
    def inputs(self) -> list[str]:
        return self.expression.split("->")[0].split(",")

    @property
    def output(self) -> str:
        return self.expression.split("->")[1]

    @property
    def sizes(self) -> dict[str, int]:
        return {
            label: n
            for labels, shape in zip(self.inputs, self.shapes, strict=True)
            for label, n in zip(labels, shape, strict=True)
        }

    @property
    def joint(self) -> str:
        """All labels in order of first appearance."""
        return "".join(dict.fromkeys("".join(self.inputs)))


def all_cases() -> list[Case]:
    cases = []
    for ident, expression, shapes in BENCHMARKS:
        cases.append(Case(ident, expression, shapes, (True,) * len(shapes)))
        if len(shapes) == 2:
            cases.append(Case(ident, expression, shapes, (True, False)))
    return cases


def max_error(got: Any, expected: np.ndarray) -> float:
    got_array = np.asarray(got, dtype=np.float64).reshape(np.shape(expected))
    return float(np.max(np.abs(got_array - expected))) if got_array.size else 0.0

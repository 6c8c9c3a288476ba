r"""Byzantine attacks on robust aggregation, and their registry.

``get_attack(name, **params)`` returns a callable object; ``attack(honest, byzantine_count, rng)`` takes the
round's honest vectors ``(h, d)`` (omniscient attacks read them), the number f of Byzantine workers and a seed
or numpy Generator, and returns the f Byzantine vectors ``(f, d)``.  Below mu and sigma are the coordinate-wise
mean and population standard deviation of the honest vectors, and n = h + f.

- ``sign_flip``: every Byzantine worker sends -mu.
- ``ipm`` (epsilon): inner-product manipulation, -epsilon * mu (Xie, Koyejo, Gupta, "Fall of Empires:
  Breaking Byzantine-tolerant SGD by Inner Product Manipulation", UAI 2019); 0.1 stays inside median/Krum,
  a large epsilon (10) flips the mean.
- ``alie`` (z): "A Little Is Enough" (Baruch, Baruch, Goldberg, NeurIPS 2019), mu + z * sigma.  By default z is
  the paper's z_max: s = floor(n/2 + 1) - f and Phi(z_max) = (n - s)/n (Phi the standard normal CDF), e.g.
  z_max = Phi^-1(2/3) ~ 0.43 for n = 15, f = 3.
- ``gaussian`` (sigma): independent N(0, sigma^2) entries.
- ``mimic`` (target): every Byzantine worker copies honest worker ``target`` (Karimireddy, He, Jaggi,
  "Byzantine-Robust Learning on Heterogeneous Datasets via Bucketing", ICLR 2022).
- ``random_uniform`` (low, high): independent U[low, high) entries, U[0, 1) by default: the "random" attack
  of the Flag Aggregator paper's experiments.
- ``nan_inf`` (value): vectors full of NaN, +inf or -inf; aggregators refuse such input, so the simulation
  treats these workers as Byzantine before it aggregates.
- ``label_flip``: data-level (``data_level = True``): Byzantine workers train honestly on labels
  y -> C - 1 - y (:func:`flip_labels`); it has no vector form and calling it on vectors is an error.
"""

from __future__ import annotations

import inspect
import math
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

from securecompute.errors import ParameterError, ShapeError
from securecompute.federated._checks import FloatArray, as_updates, check_int, check_positive
from securecompute.randomness import Seed, as_generator

__all__ = [
    "ATTACKS",
    "ALittleIsEnough",
    "Attack",
    "Gaussian",
    "InnerProductManipulation",
    "LabelFlip",
    "Mimic",
    "NanInf",
    "RandomUniform",
    "SignFlip",
    "alie_z_max",
    "flip_labels",
    "get_attack",
]


def get_attack(name: str, **params: Any) -> Attack:
    """Build the attack called ``name`` (a key of :data:`ATTACKS`) with constructor ``params``.

    Raises:
        ParameterError: unknown name, a parameter the attack does not take, or a bad parameter value.
    """
    if not isinstance(name, str) or name.strip().lower() not in ATTACKS:
        raise ParameterError(f"unknown attack {name!r}; known: {', '.join(sorted(ATTACKS))}")
    cls = ATTACKS[name.strip().lower()]
    accepted = _parameter_names(cls)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        takes = ", ".join(accepted) if accepted else "no parameters"
        raise ParameterError(f"attack {cls.name!r} does not take {', '.join(unknown)}; it takes {takes}")
    return cls(**params)


def alie_z_max(n: int, f: int) -> float:
    """ALIE's default z: with s = floor(n/2 + 1) - f, the z with Phi(z) = (n - s)/n.

    Raises:
        ParameterError: f >= 1 is not below floor(n/2) + 1 (then s <= 0 and z_max is infinite) or n < 2.
    """
    n = check_int("n", n, 1)
    f = check_int("f", f, 1)
    supporters = (n // 2 + 1) - f
    if supporters <= 0 or supporters >= n:
        raise ParameterError(f"alie's z_max needs 1 <= floor(n/2) + 1 - f < n, got n={n} workers and f={f}")
    return NormalDist().inv_cdf((n - supporters) / n)


def flip_labels(labels: npt.ArrayLike, classes: int) -> npt.NDArray[np.int64]:
    """Return y -> classes - 1 - y for integer labels in [0, classes).

    Raises:
        ParameterError: ``classes`` < 2, or a label that is not an integer in [0, classes).
    """
    classes = check_int("classes", classes, 2)
    array = np.asarray(labels)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ParameterError(f"labels must be integers, got dtype {array.dtype}")
    array = array.astype(np.int64)
    if array.size and (array.min() < 0 or array.max() >= classes):
        raise ParameterError(f"labels must lie in [0, {classes}), got values from {array.min()} to {array.max()}")
    return np.asarray(classes - 1 - array, dtype=np.int64)


class Attack:
    """A Byzantine attack: ``attack(honest (h, d), byzantine_count, rng) -> (byzantine_count, d)``.

    ``data_level`` is True for attacks that act on the training data instead of on the sent vectors.
    """

    name = "attack"
    data_level = False

    def __call__(self, honest: npt.ArrayLike, byzantine_count: int, rng: Seed = None) -> FloatArray:
        """Return the Byzantine vectors ``(byzantine_count, d)`` float64 for this round.

        Raises:
            ShapeError: ``honest`` is not a non-empty two-dimensional array.
            ParameterError: ``honest`` holds NaN/inf, ``byzantine_count`` < 0, or a bad ``rng``.
        """
        vectors = as_updates(honest, "honest")
        count = check_int("byzantine_count", byzantine_count, 0)
        generator = as_generator(rng)
        if count == 0:
            return np.zeros((0, vectors.shape[1]))
        return self._forge(vectors, count, generator)

    def _forge(self, honest: FloatArray, count: int, generator: np.random.Generator) -> FloatArray:
        raise NotImplementedError

    def __repr__(self) -> str:
        names = _parameter_names(type(self))
        return f"{type(self).__name__}({', '.join(f'{key}={getattr(self, key)!r}' for key in names)})"


class SignFlip(Attack):
    """Every Byzantine worker sends -mu, the negated honest mean."""

    name = "sign_flip"

    def __init__(self) -> None:
        pass

    def _forge(self, honest: FloatArray, count: int, generator: np.random.Generator) -> FloatArray:
        return np.tile(-honest.mean(axis=0), (count, 1))


class InnerProductManipulation(Attack):
    """Every Byzantine worker sends -epsilon * mu (``epsilon`` > 0)."""

    name = "ipm"

    def __init__(self, epsilon: float = 0.1) -> None:
        self.epsilon = check_positive("epsilon", epsilon)

    def _forge(self, honest: FloatArray, count: int, generator: np.random.Generator) -> FloatArray:
        return np.tile(-self.epsilon * honest.mean(axis=0), (count, 1))


class ALittleIsEnough(Attack):
    """Every Byzantine worker sends mu + z * sigma; ``z=None`` takes :func:`alie_z_max` for n = h + f."""

    name = "alie"

    def __init__(self, z: float | None = None) -> None:
        if z is not None and (isinstance(z, bool) or not isinstance(z, (int, float)) or not math.isfinite(z)):
            raise ParameterError(f"z must be a finite real or None (the z_max formula), got {z!r}")
        self.z = None if z is None else float(z)

    def _forge(self, honest: FloatArray, count: int, generator: np.random.Generator) -> FloatArray:
        z = alie_z_max(honest.shape[0] + count, count) if self.z is None else self.z
        return np.tile(honest.mean(axis=0) + z * honest.std(axis=0), (count, 1))


class Gaussian(Attack):
    """Independent N(0, sigma^2) entries (``sigma`` > 0, in the units of the updates)."""

    name = "gaussian"

    def __init__(self, sigma: float = 1.0) -> None:
        self.sigma = check_positive("sigma", sigma)

    def _forge(self, honest: FloatArray, count: int, generator: np.random.Generator) -> FloatArray:
        return generator.normal(0.0, self.sigma, size=(count, honest.shape[1]))


class Mimic(Attack):
    """Every Byzantine worker copies honest worker ``target`` (0-based row of ``honest``)."""

    name = "mimic"

    def __init__(self, target: int = 0) -> None:
        self.target = check_int("target", target, 0)

    def _forge(self, honest: FloatArray, count: int, generator: np.random.Generator) -> FloatArray:
        if self.target >= honest.shape[0]:
            raise ShapeError(f"mimic target {self.target} is not an honest row; there are {honest.shape[0]}")
        return np.tile(honest[self.target], (count, 1))


class RandomUniform(Attack):
    """Independent U[low, high) entries; U[0, 1) is the Flag Aggregator paper's "random" attack."""

    name = "random_uniform"

    def __init__(self, low: float = 0.0, high: float = 1.0) -> None:
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (low, high)):
            raise ParameterError(f"low and high must be finite reals, got low={low!r}, high={high!r}")
        if not low < high:
            raise ParameterError(f"random_uniform needs low < high, got low={low}, high={high}")
        self.low, self.high = float(low), float(high)

    def _forge(self, honest: FloatArray, count: int, generator: np.random.Generator) -> FloatArray:
        return generator.uniform(self.low, self.high, size=(count, honest.shape[1]))


class NanInf(Attack):
    """Vectors full of ``value``: "nan", "inf" or "-inf"."""

    name = "nan_inf"

    def __init__(self, value: str = "nan") -> None:
        if value not in _FILL_VALUES:
            raise ParameterError(f"nan_inf value must be one of {', '.join(_FILL_VALUES)}, got {value!r}")
        self.value = value

    def _forge(self, honest: FloatArray, count: int, generator: np.random.Generator) -> FloatArray:
        return np.full((count, honest.shape[1]), _FILL_VALUES[self.value])


class LabelFlip(Attack):
    """Data-level: Byzantine workers compute honest updates on labels y -> C - 1 - y (see :meth:`flip`)."""

    name = "label_flip"
    data_level = True

    def __init__(self) -> None:
        pass

    def flip(self, labels: npt.ArrayLike, classes: int) -> npt.NDArray[np.int64]:
        """The labels a Byzantine worker trains on: :func:`flip_labels`."""
        return flip_labels(labels, classes)

    def __call__(self, honest: npt.ArrayLike, byzantine_count: int, rng: Seed = None) -> FloatArray:
        raise ParameterError(
            "label_flip is a data-level attack (data_level=True): flip the Byzantine workers' labels with "
            "flip(labels, classes) and let them train, instead of forging vectors"
        )


def _parameter_names(cls: type[Attack]) -> list[str]:
    parameters = inspect.signature(cls.__init__).parameters.values()
    plain = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [parameter.name for parameter in parameters if parameter.name != "self" and parameter.kind in plain]


_FILL_VALUES = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}

ATTACKS: dict[str, type[Attack]] = {
    cls.name: cls
    for cls in (
        SignFlip,
        InnerProductManipulation,
        ALittleIsEnough,
        Gaussian,
        Mimic,
        RandomUniform,
        NanInf,
        LabelFlip,
    )
}
"""Registry: attack name -> class."""

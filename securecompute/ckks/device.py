"""The JAX engine of the evaluator: every op one jitted program on device-resident uint64 arrays.

:class:`DeviceEngine` runs an op body (written once against :class:`~securecompute.ckks.arrays.RingOps`,
the same code the numpy engine runs eagerly) inside ``jax.jit`` with :class:`JaxRingOps`, so XLA
fuses the elementwise modular work around the NTT GEMMs and nothing leaves the device inside an op:

- NTTs: the jitted GEMM programs of :class:`~securecompute.cross.jax_backend.JaxNTT` (fast mode) and
  :class:`~securecompute.cross.jax_wide.JaxWideNTT` (48..60-bit primes), inlined through their
  ``device_program``; their constant planes are arguments of the op's program, not baked into it.
- products: :func:`securecompute.cross.jax_wide.mul_mod` (exact Barrett on uint64, any prime below
  2^61) for ciphertext x ciphertext and ciphertext x plaintext; Shoup products
  (:func:`~securecompute.cross.jax_wide.shoup_multiply`) with the key-switching keys, ``q_last^-1``
  and, with the constant 1, every reduction of a uint64 modulo a prime.
- gathers (Galois permutations) on the device; the per-(op, level, shape) programs are cached.

Key-switching keys, their Shoup companions and the hoisting corrections are uploaded once per key
and level and kept on the device.  Ciphertexts come back as ``jax.Array`` uint64; the boundaries
(decryption, serialisation) convert with ``np.asarray``.  Everything runs inside
``jax.enable_x64(True)`` (uint64 needs it; JAX's global flag is not changed).

JAX is imported lazily: importing :mod:`securecompute.ckks` never imports it.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache, partial
from typing import Any

import numpy as np

from securecompute.ckks.ring import ntt_for
from securecompute.cross.jax_backend import exact_device, import_jax
from securecompute.cross.jax_wide import JaxWideNTT, barrett_columns, mul_mod, shoup_multiply

__all__ = ["PROGRAM_CACHE_SIZE", "DeviceEngine", "JaxRingOps"]

Program = Callable[[Any, Any], Any]

#: Most jitted op programs kept per process (least recently used dropped first; a dropped one is
#: traced and compiled again when next needed).  One chain uses about ten per level.
PROGRAM_CACHE_SIZE = 512

# (N, body, statics, NTT sets) -> jitted program, shared by every engine and device (jit compiles per
# placement of its arguments), so a new Evaluator (a loaded public context, say) reuses the programs.
# Keys, NTT constants and tables are arguments, never part of a program.
_PROGRAMS: OrderedDict[tuple[object, ...], Any] = OrderedDict()
_PROGRAMS_LOCK = threading.Lock()


@lru_cache(maxsize=256)
def _reduction_columns(moduli: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``(q, floor(2^64 / q))`` uint64 columns: Shoup's companion of the constant 1 (reduces any uint64)."""
    q = np.array(moduli, dtype=np.uint64).reshape(-1, 1)
    companion = np.array([(1 << 64) // qi for qi in moduli], dtype=np.uint64).reshape(-1, 1)
    return q, companion


def _name(direction: str, moduli: tuple[int, ...]) -> str:
    return f"{direction}:{','.join(map(str, moduli))}"


class JaxRingOps:
    """:class:`~securecompute.ckks.arrays.RingOps` inside a JAX trace (values are tracers).

    Args:
        jnp: ``jax.numpy``.
        n: the ring degree N.
        programs: ``"forward:q0,q1,..."`` -> the NTT's pure program ``fn(data, constants)``.
        constants: the same names -> the NTT's device constants (traced arguments of the op's program).
    """

    eager = False

    def __init__(self, jnp: Any, n: int, programs: dict[str, Program], constants: dict[str, Any]) -> None:
        self.xp = jnp
        self.n = n
        self._programs = programs
        self._constants = constants

    def _transform(self, direction: str, moduli: tuple[int, ...], values: Any) -> Any:
        jnp = self.xp
        name = _name(direction, moduli)
        shape = values.shape
        flat = values.reshape(-1, len(moduli), self.n).astype(jnp.int64)
        return self._programs[name](flat, self._constants[name]).astype(jnp.uint64).reshape(shape)

    def forward(self, moduli: tuple[int, ...], values: Any) -> Any:
        """Forward NTT of uint64 ``(..., L, N)`` (SEAL's order), on the device."""
        return self._transform("forward", moduli, values)

    def inverse(self, moduli: tuple[int, ...], values: Any) -> Any:
        """Inverse NTT of uint64 ``(..., L, N)``, on the device."""
        return self._transform("inverse", moduli, values)

    def add(self, a: Any, b: Any, moduli: tuple[int, ...]) -> Any:
        """``(a + b) mod q`` for residues (q < 2^63)."""
        jnp = self.xp
        q = jnp.asarray(_reduction_columns(moduli)[0])
        total = a + b
        return jnp.where(total >= q, total - q, total)

    def sub(self, a: Any, b: Any, moduli: tuple[int, ...]) -> Any:
        """``(a - b) mod q`` for residues."""
        jnp = self.xp
        q = jnp.asarray(_reduction_columns(moduli)[0])
        return jnp.where(a >= b, a - b, a + (q - b))

    def mul(self, a: Any, b: Any, moduli: tuple[int, ...]) -> Any:
        """``a * b mod q`` exactly (Barrett on uint64, q below 2^61)."""
        jnp = self.xp
        q, mu, bits = (jnp.asarray(column) for column in barrett_columns(moduli))
        return mul_mod(jnp, a, b, q, mu, bits)

    def mul_constant(self, a: Any, b: Any, b_shoup: Any, moduli: tuple[int, ...]) -> Any:
        """``a * b mod q`` for a constant b with its Shoup companion."""
        jnp = self.xp
        q = jnp.asarray(_reduction_columns(moduli)[0])
        return shoup_multiply(jnp, a, jnp.asarray(b), jnp.asarray(b_shoup), q)

    def reduce(self, values: Any, moduli: tuple[int, ...]) -> Any:
        """Any uint64 values modulo q: a Shoup product with the constant 1."""
        jnp = self.xp
        q, companion = (jnp.asarray(column) for column in _reduction_columns(moduli))
        return shoup_multiply(jnp, values, jnp.uint64(1), companion, q)

    def gather(self, values: Any, table: Any) -> Any:
        """``values[..., table]`` on the device (``table`` a traced int64 array)."""
        return self.xp.take(values, table, axis=-1)

    def any_zero_at(self, values: Any, mask: Any) -> Any:
        """Whether any word is zero where the bool ``mask`` (last axis) holds: a traced boolean."""
        return self.xp.any((values == 0) & mask)

    def contiguous(self, values: Any) -> Any:
        """The array itself (XLA owns the layout)."""
        return values


class DeviceEngine:
    """Runs op bodies as jitted programs on one JAX device (cached per process); holds the device copies of keys.

    Args:
        n: the ring degree N.
        device: a ``jax.Device`` (CPU or GPU); default ``jax.devices()[0]``.  Ciphertexts, keys and the
            NTT constants of this engine live there.

    Raises:
        DependencyMissingError: JAX is not installed.
        NotAvailableError: the device is a TPU (its float64 GEMMs are not exact).
    """

    def __init__(self, n: int, device: Any = None) -> None:
        self.jax = import_jax()
        self.n = n
        self.device = exact_device(self.jax, device)
        self._ntts: dict[str, tuple[Program, Any]] = {}
        self._constants: dict[tuple[tuple[int, ...], ...], dict[str, Any]] = {}
        self._arrays: dict[tuple[object, ...], tuple[weakref.ref[Any], Any]] = {}

    def run(
        self, body: Callable[..., Any], statics: tuple[Any, ...], ntt_sets: tuple[tuple[int, ...], ...], *arrays: Any
    ) -> Any:
        """``body(ops, *arrays, *statics)`` as one jitted program (cached per body, statics and NTT sets).

        ``arrays`` are device arrays (or numpy, uploaded by the call) and pytrees of them; ``statics``
        hashable Python values (moduli, Galois elements); ``ntt_sets`` the moduli tuples whose NTTs the
        body runs.  Returns device arrays (asynchronously: ``block_until_ready`` to wait).
        """
        jax = self.jax
        with jax.enable_x64(True):
            constants = self._constants.get(ntt_sets)
            if constants is None:
                names = tuple(_name(direction, moduli) for moduli in ntt_sets for direction in ("forward", "inverse"))
                constants = {name: self._ntt(name)[1] for name in names}
                self._constants[ntt_sets] = constants
            program = self._program(body, statics, ntt_sets)
            return program(constants, *arrays)

    def upload(self, owner: object, cache_key: tuple[object, ...], build: Callable[[], Any]) -> Any:
        """The device copy of ``build()`` (numpy arrays or a tuple of them), uploaded once per (owner, key).

        ``owner`` is the host object the arrays derive from (a key, the parameters).  The copy is held
        while the owner lives and dropped with it (a key replaced by another frees its device memory);
        a lookup checks the owner itself, so a new object at a dead one's address never gets its arrays.
        """
        full_key = (id(owner), *cache_key)
        cached = self._arrays.get(full_key)
        if cached is not None and cached[0]() is owner:
            return cached[1]
        jax = self.jax
        with jax.enable_x64(True):
            arrays = jax.device_put(build(), self.device)
        engine = weakref.ref(self)

        def forget(_: object) -> None:
            alive = engine()
            if alive is not None:
                alive._arrays.pop(full_key, None)

        # the weak reference lives in the entry: its callback runs only while this engine does
        self._arrays[full_key] = (weakref.ref(owner, forget), arrays)
        return arrays

    def to_device(self, value: Any) -> Any:
        """A uint64 array (numpy or JAX) as a device array of this engine (one transfer, or none)."""
        with self.jax.enable_x64(True):
            return self.jax.device_put(value, self.device)

    def to_host(self, value: Any) -> np.ndarray:
        """A device array as numpy (one transfer)."""
        with self.jax.enable_x64(True):
            return np.asarray(self.jax.device_get(value))

    def _program(
        self, body: Callable[..., Any], statics: tuple[Any, ...], ntt_sets: tuple[tuple[int, ...], ...]
    ) -> Any:
        """The process-wide jitted program of (N, body, statics, NTT sets), built on a miss (bounded LRU)."""
        key = (self.n, body, statics, ntt_sets)
        with _PROGRAMS_LOCK:
            program = _PROGRAMS.get(key)
            if program is not None:
                _PROGRAMS.move_to_end(key)
                return program
        names = tuple(_name(direction, moduli) for moduli in ntt_sets for direction in ("forward", "inverse"))
        fns = {name: self._ntt(name)[0] for name in names}
        program = self.jax.jit(partial(_traced, self.jax.numpy, self.n, body, statics, fns))
        with _PROGRAMS_LOCK:
            program = _PROGRAMS.setdefault(key, program)
            _PROGRAMS.move_to_end(key)
            while len(_PROGRAMS) > PROGRAM_CACHE_SIZE:
                _PROGRAMS.popitem(last=False)
        return program

    def _ntt(self, name: str) -> tuple[Program, Any]:
        """The NTT's pure program and its constants on this engine's device."""
        cached = self._ntts.get(name)
        if cached is None:
            direction, text = name.split(":")
            moduli = tuple(int(value) for value in text.split(","))
            transform = ntt_for(self.n, moduli, "jax")
            device_ntt = transform if isinstance(transform, JaxWideNTT) else transform._jax  # type: ignore[attr-defined]
            fn, constants = device_ntt.device_program(direction)
            with self.jax.enable_x64(True):
                cached = (fn, self.jax.device_put(constants, self.device))  # no copy when already there
            self._ntts[name] = cached
        return cached


def _traced(
    jnp: Any,
    n: int,
    body: Callable[..., Any],
    statics: tuple[Any, ...],
    programs: dict[str, Program],
    constants: dict[str, Any],
    *arrays: Any,
) -> Any:
    return body(JaxRingOps(jnp, n, programs, constants), *arrays, *statics)

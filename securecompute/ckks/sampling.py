"""Samplers for RLWE from a cryptographic byte stream: ternary secrets, SEAL's noise, uniform residues.

:class:`RandomSource` is a CSPRNG: SHAKE-256 of a 64-byte seed and a block counter
(``SHAKE256(seed || le64(k))``, 4096 bytes per block, the construction of SEAL's Shake256PRNG), the
seed taken from ``secrets.token_bytes`` (the OS source) unless a test passes one explicitly.  Numpy's
generators are never used here.

Distributions (those of the SEAL build in TenSEAL 0.3.18):

* ternary: uniform on {-1, 0, 1}, by rejection on bytes (a byte 255 is redrawn, so ``b mod 3`` is uniform);
* noise: SEAL's centred binomial, ``popcount(x0,x1,x2&0x1F) - popcount(x3,x4,x5&0x1F)`` over 6 bytes,
  in [-21, 21] with standard deviation sqrt(10.5) ~ 3.24 (this SEAL build compiles the clipped
  normal out and uses this in its place for sigma = 3.2);
* uniform residues modulo q: 64-bit words by rejection (a word at or above the largest multiple of q
  below 2^64 is redrawn), then ``mod q``, so every residue is exactly equally likely.

The draws are vectorised; their order differs from SEAL's, so seeded outputs are not SEAL's (SEAL's
keys are imported, not regenerated).  Timing depends on rejections only, which reveal nothing about
accepted values.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading

import numpy as np

from securecompute.errors import ParameterError

__all__ = ["RandomSource", "sample_noise", "sample_ternary", "sample_uniform"]

_BLOCK = 4096
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)


class RandomSource:
    """A deterministic byte stream expanded from a seed by SHAKE-256 in counter mode.

    Args:
        seed: 64 bytes; None (the default) draws them from the OS through ``secrets``.  Pass a
            fixed seed only in tests: equal seeds give equal keys.

    Copies and unpickled copies are fresh OS-seeded sources (they never replay this stream), and an
    OS-seeded source reseeds itself in a forked child; the repr hides the seed; :meth:`take` is
    thread-safe.

    Raises:
        ParameterError: a seed that is not 64 bytes.
    """

    def __init__(self, seed: bytes | None = None) -> None:
        # An OS-seeded stream is reseeded in a forked child: parent and child would otherwise draw the
        # same bytes next (the same masks in their next ciphertexts).  A test's explicit seed is kept.
        self._pid = os.getpid() if seed is None else None
        if seed is None:
            seed = secrets.token_bytes(64)
        if not isinstance(seed, bytes) or len(seed) != 64:
            raise ParameterError(
                f"seed must be 64 bytes, got {type(seed).__name__} of length {len(seed) if isinstance(seed, bytes) else '?'}"
            )
        self._seed = seed
        self._counter = 0
        self._buffer = b""
        # One Encryptor shared by threads must never hand two callers the same bytes (the same mask u
        # in two ciphertexts reveals the difference of their plaintexts up to noise).
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RandomSource(<{len(self._seed)}-byte seed hidden>, blocks used={self._counter})"

    # A copy (copy, deepcopy, pickle: e.g. an Encryptor shipped to several workers) is a fresh source
    # seeded from the OS, never this stream again: replayed bytes would reuse masks across ciphertexts.
    def __copy__(self) -> RandomSource:
        return RandomSource()

    def __deepcopy__(self, memo: object) -> RandomSource:
        return RandomSource()

    def __reduce__(self) -> tuple[type[RandomSource], tuple[()]]:
        return (RandomSource, ())

    def take(self, count: int) -> bytes:
        """The next ``count`` bytes of the stream (thread-safe: concurrent callers get disjoint bytes)."""
        with self._lock:
            if self._pid is not None and self._pid != os.getpid():
                self._pid, self._seed, self._counter, self._buffer = os.getpid(), secrets.token_bytes(64), 0, b""
            while len(self._buffer) < count:
                block = hashlib.shake_256(self._seed + self._counter.to_bytes(8, "little")).digest(_BLOCK)
                self._counter += 1
                self._buffer += block
            taken, self._buffer = self._buffer[:count], self._buffer[count:]
            return taken

    def words(self, count: int) -> np.ndarray:
        """``count`` uniform uint64 words (little-endian)."""
        return np.frombuffer(self.take(8 * count), dtype="<u8").astype(np.uint64)


def sample_ternary(source: RandomSource, n: int) -> np.ndarray:
    """``n`` coefficients uniform on {-1, 0, 1}, int64 ``(n,)``."""
    accepted = np.empty(0, dtype=np.int64)
    while accepted.size < n:
        draw = np.frombuffer(source.take(n - accepted.size + 16), dtype=np.uint8).astype(np.int64)
        accepted = np.concatenate([accepted, draw[draw < 255]])
    return np.asarray(accepted[:n] % 3 - 1)


def sample_noise(source: RandomSource, n: int) -> np.ndarray:
    """``n`` centred-binomial noise coefficients in [-21, 21] (sigma ~ 3.24), int64 ``(n,)``."""
    raw = np.frombuffer(source.take(6 * n), dtype=np.uint8).reshape(n, 6).astype(np.int64)
    raw[:, 2] &= 0x1F
    raw[:, 5] &= 0x1F
    counts = _POPCOUNT[raw]
    return np.asarray(counts[:, :3].sum(axis=1) - counts[:, 3:].sum(axis=1))


def sample_uniform(source: RandomSource, moduli: tuple[int, ...], n: int) -> np.ndarray:
    """Uniform residues, uint64 ``(L, n)``: limb l uniform in ``[0, q_l)`` by rejection sampling."""
    rows = []
    for q in moduli:
        limit = (1 << 64) - (1 << 64) % q  # the largest multiple of q below 2^64 (q odd: never 2^64 itself)
        accepted = np.empty(0, dtype=np.uint64)
        while accepted.size < n:
            draw = source.words(n - accepted.size + 8)
            accepted = np.concatenate([accepted, draw[draw < np.uint64(limit)]])
        rows.append(accepted[:n] % np.uint64(q))
    return np.stack(rows)


def signed_to_residues(values: np.ndarray, moduli: tuple[int, ...]) -> np.ndarray:
    """Small signed int64 ``(n,)`` coefficients as uint64 residues ``(L, n)``."""
    column = np.array(moduli, dtype=np.int64).reshape(-1, 1)
    return np.asarray(np.remainder(values[None, :], column).astype(np.uint64))

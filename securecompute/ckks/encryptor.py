"""Encryption with the public key (SEAL's method) and decryption with the secret key.

Public-key encryption of a plaintext at level l (SEAL 4.3 ``encrypt_zero_asymmetric``): with u
ternary and e_0, e_1 noise, ``(u pk_0 + e_0, u pk_1 + e_1)`` is formed one level *above* (one more
prime; for the top data level that is the key level with P), divided by its last prime with rounding
(which shrinks the noise by that prime), and the plaintext is added to c_0.  Decryption is the phase
``c_0 + c_1 s (+ c_2 s^2)`` at the ciphertext's level.
"""

from __future__ import annotations

import numpy as np

from securecompute.blas import single_blas_thread
from securecompute.ckks.arrays import NumpyRingOps
from securecompute.ckks.ciphertext import Ciphertext, check_ciphertext, is_array
from securecompute.ckks.encoder import Plaintext
from securecompute.ckks.keys import PublicKey, SecretKey
from securecompute.ckks.keyswitch import divide_round_last
from securecompute.ckks.params import CKKSParameters
from securecompute.ckks.ring import add_mod, forward, modulus_column, mul_mod_constant, shoup_companion
from securecompute.ckks.sampling import RandomSource, sample_noise, sample_ternary, signed_to_residues
from securecompute.errors import ParameterError

__all__ = ["Decryptor", "Encryptor"]


class Encryptor:
    """Encrypts plaintexts under a public key.

    Args:
        public_key: the key-level encryption of zero.
        source: the random byte stream; default a fresh OS-seeded :class:`RandomSource` (tests pass a seeded one).
    """

    def __init__(self, public_key: PublicKey, source: RandomSource | None = None) -> None:
        self.params: CKKSParameters = public_key.params
        self.public_key = public_key
        self.source = source if source is not None else RandomSource()
        # The public key is a constant of every encryption: Shoup companions once, per limb.
        self._public_shoup = shoup_companion(public_key.data, modulus_column(public_key.params.moduli))

    @single_blas_thread
    def encrypt(self, plaintext: Plaintext) -> Ciphertext:
        """A fresh size-2 ciphertext of ``plaintext`` at its level and scale.

        Raises:
            ParameterError: not a plaintext, a plaintext at the key level or of the wrong type or shape.
        """
        params = self.params
        if not isinstance(plaintext, Plaintext) or not is_array(plaintext.data):
            raise ParameterError(f"encrypt takes a Plaintext with array data, got {type(plaintext).__name__}")
        level = plaintext.level
        if (
            plaintext.data.dtype != np.uint64
            or plaintext.data.shape != (level + 1, params.n)
            or not 0 <= level <= params.max_level
        ):
            raise ParameterError(
                f"plaintext must be uint64 (L <= {params.max_level + 1}, N={params.n}); "
                f"got {plaintext.data.dtype} {plaintext.data.shape}"
            )
        plain = np.asarray(plaintext.data)  # host numpy: a JAX engine's device plaintext is copied here
        above = self.params.moduli_at(level + 1)
        rows = [*range(level + 1), len(params.moduli) - 1] if level + 1 == params.key_level else list(range(level + 2))
        q = modulus_column(above)
        u = forward(params.n, above, signed_to_residues(sample_ternary(self.source, params.n), above))
        masked = mul_mod_constant(u[None], self.public_key.data[:, rows, :], self._public_shoup[:, rows, :], q)
        for k in range(2):
            noise = forward(params.n, above, signed_to_residues(sample_noise(self.source, params.n), above))
            masked[k] = add_mod(masked[k], noise, q)
        data = divide_round_last(NumpyRingOps(params.n), masked, above)
        data[0] = add_mod(data[0], plain, modulus_column(params.moduli_at(level)))
        return Ciphertext(data, plaintext.scale)


class Decryptor:
    """Decrypts with the secret key (held only by the key owner)."""

    def __init__(self, secret_key: SecretKey) -> None:
        self.params = secret_key.params
        self.secret_key = secret_key
        self._secret_shoup = shoup_companion(secret_key.data, modulus_column(secret_key.params.moduli))

    @single_blas_thread
    def decrypt(self, ciphertext: Ciphertext) -> Plaintext:
        """The phase ``sum_k c_k s^k`` in NTT form at the ciphertext's level, as a plaintext.

        Raises:
            ShapeError: the ciphertext does not fit the parameters.
        """
        data = np.asarray(check_ciphertext(ciphertext, self.params).data)  # a JAX engine's device array too
        limbs = data.shape[1]
        q = modulus_column(self.params.moduli_at(limbs - 1))
        secret, secret_shoup = self.secret_key.data[:limbs], self._secret_shoup[:limbs]
        phase = data[-1].copy()
        for k in range(ciphertext.size - 2, -1, -1):  # Horner: (c_(k+1) + ...) s + c_k
            phase = add_mod(mul_mod_constant(phase, secret, secret_shoup, q), data[k], q)
        return Plaintext(np.ascontiguousarray(phase), ciphertext.scale)

"""RNS-CKKS on the matrix-engine kernels of :mod:`securecompute.cross`, bit-exact with SEAL 4.3.

Layers (Lattigo-like): :mod:`securecompute.cross` is the ring (GEMM NTT, RNS); this package is the
scheme: :mod:`.params` (chain, special prime), :mod:`.encoder` (SEAL's encoder, bit-exact),
:mod:`.sampling` (CSPRNG samplers), :mod:`.keys` (SEAL's key layout, key generation),
:mod:`.keyswitch` (SEAL's per-prime key switching, hoisting), :mod:`.evaluator` (add, multiply,
relinearise, rescale, mod-switch, rotate, hoisted rotate_many), :mod:`.arrays` (the array primitives
those are written against; numpy engine), :mod:`.device` (the JAX engine: one jitted program per op,
device-resident data), :mod:`.encryptor`, and
:mod:`.seal_import` (SEAL's keys and ciphertexts as our values).  It never imports ``fhe`` or
``federated``: the einsum engine adapter sits above it.
"""

from __future__ import annotations

from securecompute.ckks.ciphertext import Ciphertext
from securecompute.ckks.encoder import CKKSEncoder, Plaintext
from securecompute.ckks.encryptor import Decryptor, Encryptor
from securecompute.ckks.evaluator import Evaluator
from securecompute.ckks.keys import GaloisKeys, KeyGenerator, KeySwitchingKey, PublicKey, SecretKey
from securecompute.ckks.params import SECURITY_MAX_COEFF_BITS, CKKSParameters
from securecompute.ckks.sampling import RandomSource

__all__ = [
    "SECURITY_MAX_COEFF_BITS",
    "CKKSEncoder",
    "CKKSParameters",
    "Ciphertext",
    "Decryptor",
    "Encryptor",
    "Evaluator",
    "GaloisKeys",
    "KeyGenerator",
    "KeySwitchingKey",
    "Plaintext",
    "PublicKey",
    "RandomSource",
    "SecretKey",
]

"""Matrix-engine HE arithmetic in the style of CROSS: exact modular kernels, BAT GEMMs and a GEMM NTT.

The ring layer under the CKKS code: Barrett/Shoup modular arithmetic (:mod:`.modmath`), exact
``W @ X mod q`` as float64 digit GEMMs (:mod:`.bat`), the negacyclic NTT laid out as two GEMMs and a
twiddle (:mod:`.ntt`, bit-exact with SEAL's ``transform_to_ntt``) and NTT-friendly primes
(:mod:`.primes`).  numpy backend only for now.
"""

from __future__ import annotations

from securecompute.cross.bat import DigitPlan, ModMatmul, plan_digits
from securecompute.cross.modmath import (
    FAST_MODULUS_BITS,
    MAX_MODULUS_BITS,
    barrett_constants,
    barrett_reduce,
    mod_mul,
    rint_reduce,
    shoup_multiply,
    shoup_precompute,
    shoup_word_bits,
)
from securecompute.cross.ntt import NTT, bit_reverse_permutation, default_layout
from securecompute.cross.primes import find_ntt_primes, is_prime, minimal_primitive_root

__all__ = [
    "FAST_MODULUS_BITS",
    "MAX_MODULUS_BITS",
    "NTT",
    "DigitPlan",
    "ModMatmul",
    "barrett_constants",
    "barrett_reduce",
    "bit_reverse_permutation",
    "default_layout",
    "find_ntt_primes",
    "is_prime",
    "minimal_primitive_root",
    "mod_mul",
    "plan_digits",
    "rint_reduce",
    "shoup_multiply",
    "shoup_precompute",
    "shoup_word_bits",
]

"""Matrix-engine HE arithmetic in the style of CROSS: exact modular kernels, BAT GEMMs and a GEMM NTT.

The ring layer under the CKKS code: Barrett/Shoup modular arithmetic (:mod:`.modmath`), exact
``W @ X mod q`` as float64 digit GEMMs (:mod:`.bat`), the negacyclic NTT laid out as two GEMMs and a
twiddle (:mod:`.ntt`, bit-exact with SEAL's ``transform_to_ntt``), RNS CRT, fast basis conversion
and rescale (:mod:`.rns`) and NTT-friendly primes (:mod:`.primes`).  Backends: numpy, and JAX (optional extra, CPU or GPU, exact float64).
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
from securecompute.cross.rns import (
    BasisConverter,
    RNSBasis,
    compose,
    decompose,
    negacyclic_multiply,
    rescale_by_last,
)

__all__ = [
    "FAST_MODULUS_BITS",
    "MAX_MODULUS_BITS",
    "NTT",
    "BasisConverter",
    "DigitPlan",
    "ModMatmul",
    "RNSBasis",
    "barrett_constants",
    "barrett_reduce",
    "bit_reverse_permutation",
    "compose",
    "decompose",
    "default_layout",
    "find_ntt_primes",
    "is_prime",
    "minimal_primitive_root",
    "mod_mul",
    "negacyclic_multiply",
    "plan_digits",
    "rescale_by_last",
    "rint_reduce",
    "shoup_multiply",
    "shoup_precompute",
    "shoup_word_bits",
]

"""Encrypted einsum on CKKS (EinHops-style), on TenSEAL/SEAL or simulated slot vectors.

ctx = CKKSContext.create(depth=3)
x = ctx.encrypt(a)
y = einsum("bik,bkj->bij", x, b)        # any mix of EncryptedTensor and arrays
ctx.decrypt(y)
print(plan_einsum("bik,bkj->bij", x, b).explain())
"""

from securecompute.fhe.context import CKKSContext, EvaluationContext
from securecompute.fhe.einsum import einsum, plan_einsum
from securecompute.fhe.params import CKKSParameters
from securecompute.fhe.plan import EinsumPlan
from securecompute.fhe.tensor import EncryptedTensor

__all__ = [
    "CKKSContext",
    "CKKSParameters",
    "EinsumPlan",
    "EncryptedTensor",
    "EvaluationContext",
    "einsum",
    "plan_einsum",
]

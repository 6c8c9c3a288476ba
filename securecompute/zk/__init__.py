"""Zero-knowledge ReLU proofs (zkReLU, after zkDL) over hiding Hyrax commitments on BLS12-381.

    from securecompute.zk import Params, quantize, prove_relu, verify_relu, ReluProof
    pp = Params.setup(q_bits=16, frac_bits=16, max_log_n=16)
    z = quantize(pre_activations, pp)            # int64, scale 2**(2R)
    proof = prove_relu(pp, z, grad_a=None)       # commits to Z, A = ReLU(rescale(Z)), the bits; proves
    assert verify_relu(pp, proof)                # True/False, never raises on a bad proof
    ReluProof.from_bytes(proof.to_bytes())       # CorruptPayloadError on malformed bytes
    stack = prove_relu_stack(pp, [z1, z2, z3])   # k instances in one proof, size growing with log k
    assert verify_relu_stack(pp, stack, 3)

    # a whole MLP: the model owner commits once, provers prove inferences, verifiers pin the weights
    owner = commit_model(pp, MlpModel.quantize(pp, [(W1, b1), (W2, b2)]))
    proof = prove_mlp(pp, owner, quantize_input(x, pp))
    assert verify_mlp(pp, MlpProof.from_bytes(proof.to_bytes()), weight_commitments=owner.commitment)
    step, owner = prove_train_step(pp, owner, x_int, grad_logits)   # one SGD step; owner now holds W'
    assert verify_train_step(pp, step, weight_commitments=published)  # step.updated_weights = Com(W')

The prover uses min(cores, 2) threads for its field kernels (``SECURECOMPUTE_ZK_THREADS`` or
``securecompute.zk.threads.set_threads``; proofs are the same bytes for any count).  What is and is not zero knowledge is stated in ``protocols/zkrelu.md``.  Importing this package is
cheap; the BLS12-381 library loads on first use (DependencyMissingError if it is missing).
"""

from __future__ import annotations

from securecompute.zk.mlp import prove_mlp, verify_mlp
from securecompute.zk.mlp_proof import MlpProof
from securecompute.zk.model import MlpModel, ModelCommitment, commit_model, mlp_reference, quantize_input
from securecompute.zk.params import Params, quantize
from securecompute.zk.proof import ReluProof
from securecompute.zk.relu import prove_relu, prove_relu_stack, relu_reference, verify_relu, verify_relu_stack
from securecompute.zk.train import prove_train_step, train_step_reference, verify_train_step
from securecompute.zk.train_proof import TrainStepProof

__all__ = [
    "MlpModel",
    "MlpProof",
    "ModelCommitment",
    "Params",
    "ReluProof",
    "TrainStepProof",
    "commit_model",
    "mlp_reference",
    "prove_mlp",
    "prove_relu",
    "prove_relu_stack",
    "prove_train_step",
    "quantize",
    "quantize_input",
    "relu_reference",
    "train_step_reference",
    "verify_mlp",
    "verify_relu",
    "verify_relu_stack",
    "verify_train_step",
]

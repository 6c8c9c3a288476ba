"""Zero-knowledge proof of one SGD training step of an MLP over shared commitments (zkDL's FAC4DNN wiring).

Given the owner's committed weights ``W_l``, a batch ``X`` and the prover's committed gradient of the loss with
respect to the logits ``G_(Z_L)`` (integers at scale ``2**R``, with the learning rate already applied: the relation
of ``G_(Z_L)`` to a loss is **not** proved), the prover commits to every tensor of the forward and backward pass
and proves, over the same commitments:

- forward: ``Z_l = A_(l-1) W_l + 1_rows b_l`` and ``A_h = ReLU(rescale(Z_h))`` (as :mod:`securecompute.zk.mlp`);
- backward: ``G_(A_(l-1)) = G_(Z_l) W_l^T`` (l >= 2, a linear proof with W transposed, no bias) and
  ``G_(Z_h) = 1[Z_h >= 0] rescale(G_(A_h))`` (zkReLU's backward relation, in the hidden layer's zkReLU proof);
- weight gradients: ``G_(W_l) = A_(l-1)^T G_(Z_l)`` (a linear proof with X transposed, no bias);
- the update: ``U_l = rescale(G_(W_l))`` (a zkReLU backward proof whose ``z`` and ``a`` are the zero tensor, pinned
  by the verifier as the identity commitment, so that its gradient relation is a plain rescale) and
  ``W'_l = W_l - U_l``, which needs no proof: the verifier computes ``Com(W'_l) = Com(W_l) - Com(U_l)`` row by row
  (:attr:`TrainStepProof.updated_weights`), and the prover knows its opening (blinds subtract too).

Biases are not updated.  The spec is ``protocols/zkmlp.md`` (section "Training step").
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import numpy as np

from securecompute.errors import ParameterError, SecureComputeError
from securecompute.zk import group
from securecompute.zk.commit import BlindSource, Commitment, column_vars, commit
from securecompute.zk.field import MODULUS
from securecompute.zk.group import BatchCheck
from securecompute.zk.linear import LinearShape, Opened, prove_linear, verify_linear
from securecompute.zk.mlp import pins_match, same_params, statement_transcript
from securecompute.zk.model import (
    CommittedModel,
    MlpModel,
    ModelCommitment,
    commit_model,
    log2_ceil,
    mlp_reference,
    pad_matrix,
)
from securecompute.zk.params import Params
from securecompute.zk.proof import ReluProof
from securecompute.zk.relu import prove_from_witness, verify_relu
from securecompute.zk.train_proof import TrainStepProof
from securecompute.zk.transcript import Transcript
from securecompute.zk.witness import build_witness, relu_reference

__all__ = ["TrainStepProof", "prove_train_step", "train_step_reference", "verify_train_step"]

_log = logging.getLogger(__name__)


def train_step_reference(pp: Params, model: MlpModel, x: Any, grad_logits: Any) -> dict[str, list[np.ndarray]]:
    """The integers of one step: ``z``, ``a`` (forward), ``grad_z``, ``grad_a``, ``grad_w``, ``update``, ``new_weights``.

    Raises:
        ParameterError: bad shapes, or a tensor that zkReLU must decompose or an updated weight ``W'_l`` outside
            the B-bit range (named).
    """
    zs, activations = mlp_reference(pp, model, x)
    grad = np.asarray(grad_logits)
    if grad.dtype.kind not in "iu" or grad.shape != zs[-1].shape:
        raise ParameterError(f"grad_logits must be an int array of shape {zs[-1].shape}, got {grad.dtype} {grad.shape}")
    inputs = [np.asarray(x, dtype=np.int64), *activations]
    grad_z: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * model.depth
    grad_a: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * (model.depth - 1)
    grad_w: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * model.depth
    updates: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * model.depth
    grad_z[-1] = grad.astype(np.int64)
    for index in reversed(range(model.depth)):
        grad_w[index] = _checked(inputs[index].T.astype(object) @ grad_z[index].astype(object), pp, f"G_W{index + 1}")
        updates[index] = relu_reference(np.zeros_like(grad_w[index]), pp, grad_w[index])[1]  # type: ignore[assignment]
        if index:
            product = grad_z[index].astype(object) @ model.weights[index].T.astype(object)
            grad_a[index - 1] = _checked(product, pp, f"G_A{index}")
            grad_z[index - 1] = relu_reference(zs[index - 1], pp, grad_a[index - 1])[1]  # type: ignore[assignment]
    # W' must stay a B-bit integer like every weight (the next step, inference and the owner's file require it)
    new_weights = [w - u for w, u in zip(model.weights, updates, strict=True)]
    for index, weights in enumerate(new_weights):
        if int(weights.min()) < pp.min_value or int(weights.max()) > pp.max_value:
            raise ParameterError(
                f"the updated W'{index + 1} leaves [{pp.min_value}, {pp.max_value}], the {pp.bits}-bit range of "
                f"Q={pp.q_bits}, R={pp.frac_bits}; use a larger q_bits or a smaller output gradient"
            )
    return {
        "z": zs,
        "a": activations,
        "grad_z": grad_z,
        "grad_a": grad_a,
        "grad_w": grad_w,
        "update": updates,
        "new_weights": new_weights,
    }


def prove_train_step(
    pp: Params, model: CommittedModel | MlpModel, x: Any, grad_logits: Any, *, seed: int | None = None
) -> tuple[TrainStepProof, CommittedModel]:
    """Prove one SGD step (forward, backward, weight gradients, update) of a committed model on a batch.

    Returns:
        the proof and the updated committed model (weights ``W'``, row blinds ``rho_W - rho_U``, biases unchanged),
        whose commitment is :attr:`TrainStepProof.updated_weights`: the owner proves the next step with it.

    Args:
        model: the owner's :class:`CommittedModel` (or a bare model, committed here).
        x: int64 inputs (rows x d_0) at scale ``2**R``.
        grad_logits: int64 (rows x d_L), the learning-rate-scaled gradient of the loss w.r.t. the logits at scale
            ``2**R`` (committed, **not** proved to come from a loss).
        seed: None, or an int for reproducible tests only.

    Raises:
        ParameterError: bad input or sizes, before any group operation.
    """
    committed = model if isinstance(model, CommittedModel) else None
    bare = committed.model if committed is not None else model
    if not isinstance(pp, Params) or not isinstance(bare, MlpModel):
        raise ParameterError("prove_train_step(pp, model, x, grad_logits) needs a Params and an MlpModel")
    tensors = train_step_reference(pp, bare, x, grad_logits)
    return prove_from_tensors(pp, model, x, grad_logits, tensors, seed=seed)


def prove_from_tensors(
    pp: Params,
    model: CommittedModel | MlpModel,
    x: Any,
    grad_logits: Any,
    tensors: dict[str, list[np.ndarray]],
    *,
    seed: int | None = None,
) -> tuple[TrainStepProof, CommittedModel]:
    """Prove from explicit tensors (internal: tests play cheating provers with inconsistent ones)."""
    committed = model if isinstance(model, CommittedModel) else None
    bare = committed.model if committed is not None else model
    assert isinstance(bare, MlpModel)
    rows = int(np.asarray(x).shape[0])
    a = log2_ceil(rows)
    cols = [log2_ceil(d) for d in bare.dims]
    for index in range(bare.depth):
        if cols[index] + cols[index + 1] < 1 or (index and a + cols[index] < 1):
            raise ParameterError(f"layer {index + 1} has single-entry tensors; zkReLU needs at least 2 entries")
        if a + cols[index] > pp.max_log_n or a + cols[index + 1] > pp.max_log_n:
            raise ParameterError(f"a {rows}-row batch of layer {index + 1} exceeds 2**{pp.max_log_n} entries")
    if committed is None:
        committed = commit_model(pp, bare, seed=seed)
    context = hashlib.blake2b(b"securecompute/zktrain/v1/seeded-witness", digest_size=32)
    context.update(pp.digest() + np.asarray(x, dtype="<i8").tobytes() + np.asarray(grad_logits, dtype="<i8").tobytes())
    for table in (*committed.weight_tables, *committed.bias_tables):
        context.update(np.asarray(table, dtype="<i8").tobytes())
    blinds = BlindSource(None if seed is None else int(seed) % (1 << 256), context.digest())
    generators = pp.generators()

    def commit_table(values: np.ndarray, rows_vars: int, cols_vars: int) -> tuple[Commitment, Opened]:
        table = pad_matrix(values, rows_vars, cols_vars)
        commitment, row_blinds = commit([int(v) for v in table.tolist()], rows_vars + cols_vars, blinds, generators)
        return commitment, Opened(table, row_blinds)

    depth = bare.depth
    x_com, x_open = commit_table(np.asarray(x, dtype=np.int64), a, cols[0])
    z = [commit_table(t, a, cols[i + 1]) for i, t in enumerate(tensors["z"])]
    act = [commit_table(t, a, cols[i + 1]) for i, t in enumerate(tensors["a"])]
    g_z = [commit_table(t, a, cols[i + 1]) for i, t in enumerate(tensors["grad_z"])]
    g_a = [commit_table(t, a, cols[i + 1]) for i, t in enumerate(tensors["grad_a"])]
    g_w = [commit_table(t, cols[i], cols[i + 1]) for i, t in enumerate(tensors["grad_w"])]
    upd = [commit_table(t, cols[i], cols[i + 1]) for i, t in enumerate(tensors["update"])]
    transcript = _start_transcript(
        pp,
        rows,
        committed.commitment,
        [x_com, *(c for c, _ in z), *(c for c, _ in act), *(c for c, _ in g_z)],
        [*(c for c, _ in g_a), *(c for c, _ in g_w), *(c for c, _ in upd)],
    )
    inputs = [(x_com, x_open), *act]
    weights = [Opened(t, b) for t, b in zip(committed.weight_tables, committed.weight_blinds, strict=True)]
    biases = [Opened(t, b) for t, b in zip(committed.bias_tables, committed.bias_blinds, strict=True)]
    forward = tuple(
        prove_linear(
            transcript,
            LinearShape(rows, a, cols[i], cols[i + 1]),
            inputs[i][1],
            weights[i],
            biases[i],
            z[i][1],
            blinds,
            generators,
        )
        for i in range(depth)
    )
    backward = tuple(
        prove_linear(
            transcript,
            LinearShape(rows, a, cols[i + 1], cols[i], w_transposed=True),
            g_z[i][1],
            weights[i],
            _zero_opened(cols[i]),
            g_a[i - 1][1],
            blinds,
            generators,
        )
        for i in reversed(range(1, depth))
    )
    weight_gradient = tuple(
        prove_linear(
            transcript,
            LinearShape(1 << cols[i], cols[i], a, cols[i + 1], x_transposed=True),
            inputs[i][1],
            g_z[i][1],
            _zero_opened(cols[i + 1]),
            g_w[i][1],
            blinds,
            generators,
        )
        for i in reversed(range(depth))
    )
    relu = []
    for h in range(depth - 1):
        witness = build_witness(pp, z[h][1].values, g_a[h][1].values)
        witness.a = _ints(act[h][1].values)
        witness.grad_z = _ints(g_z[h][1].values)
        shared = {
            "z": (z[h][0], z[h][1].blinds),
            "a": (act[h][0], act[h][1].blinds),
            "grad_a": (g_a[h][0], g_a[h][1].blinds),
            "grad_z": (g_z[h][0], g_z[h][1].blinds),
        }
        relu.append(prove_from_witness(pp, witness, blinds, shared))
    rescale = []
    for i in range(depth):
        num_vars = cols[i] + cols[i + 1]
        zero = _zero_commitment(num_vars)
        witness = build_witness(pp, np.zeros(1 << num_vars, dtype=np.int64), g_w[i][1].values)
        witness.grad_z = _ints(upd[i][1].values)
        no_blinds = [0] * len(zero.rows)
        shared = {
            "z": (zero, no_blinds),
            "a": (zero, no_blinds),
            "grad_a": (g_w[i][0], g_w[i][1].blinds),
            "grad_z": (upd[i][0], upd[i][1].blinds),
        }
        rescale.append(prove_from_witness(pp, witness, blinds, shared))
    proof = TrainStepProof(
        params_digest=pp.digest(),
        q_bits=pp.q_bits,
        frac_bits=pp.frac_bits,
        max_log_n=pp.max_log_n,
        rows=rows,
        model=committed.commitment,
        input=x_com,
        pre_activations=tuple(c for c, _ in z),
        activations=tuple(c for c, _ in act),
        grad_outputs=tuple(c for c, _ in g_z),
        grad_inputs=tuple(c for c, _ in g_a),
        weight_grads=tuple(c for c, _ in g_w),
        updates=tuple(c for c, _ in upd),
        forward=forward,
        backward=backward,
        weight_gradient=weight_gradient,
        relu=tuple(relu),
        rescale=tuple(rescale),
    )
    p = MODULUS
    new_model = MlpModel(tuple(w - u for w, u in zip(bare.weights, tensors["update"], strict=True)), bare.biases)
    updated = CommittedModel(
        new_model,
        ModelCommitment(bare.dims, proof.updated_weights, committed.commitment.biases),
        tuple(w - u[1].values for w, u in zip(committed.weight_tables, upd, strict=True)),
        tuple(
            [(wb - ub) % p for wb, ub in zip(w_blinds, u[1].blinds, strict=True)]
            for w_blinds, u in zip(committed.weight_blinds, upd, strict=True)
        ),
        committed.bias_tables,
        committed.bias_blinds,
    )
    return proof, updated


def verify_train_step(
    pp: Params,
    proof: TrainStepProof,
    *,
    weight_commitments: ModelCommitment | None = None,
    input_commitment: Commitment | None = None,
    rows: int | None = None,
) -> bool:
    """Check every relation of the step; True means ``proof.updated_weights`` commit to ``W - rescale(A^T G_Z)``.

    Pin the owner's ``weight_commitments`` (and the input, the batch size) to make it a statement about them.

    Raises:
        ParameterError: arguments of the wrong type.
    """
    if not isinstance(pp, Params) or not isinstance(proof, TrainStepProof):
        raise ParameterError("verify_train_step(pp, proof) needs a Params and a TrainStepProof")
    if not pins_match(proof, weight_commitments, input_commitment, rows):
        return False
    try:
        return _verify(pp, proof)
    except (SecureComputeError, ValueError, ArithmeticError) as error:
        _log.debug("zk training step rejected: %s", error)
        return False


def _verify(pp: Params, proof: TrainStepProof) -> bool:
    if not same_params(pp, proof):
        return False
    dims = proof.model.dims
    depth = len(dims) - 1
    counts = (
        (proof.pre_activations, depth),
        (proof.activations, depth - 1),
        (proof.grad_outputs, depth),
        (proof.grad_inputs, depth - 1),
        (proof.weight_grads, depth),
        (proof.updates, depth),
        (proof.forward, depth),
        (proof.backward, depth - 1),
        (proof.weight_gradient, depth),
        (proof.relu, depth - 1),
        (proof.rescale, depth),
        (proof.model.weights, depth),
    )
    if depth < 1 or any(len(items) != count for items, count in counts) or not 1 <= proof.rows <= 1 << pp.max_log_n:
        return False
    a = log2_ceil(proof.rows)
    cols = [log2_ceil(d) for d in dims]
    shaped = [(proof.input, a + cols[0])]
    for i in range(depth):
        shaped += [(proof.pre_activations[i], a + cols[i + 1]), (proof.grad_outputs[i], a + cols[i + 1])]
        shaped += [(proof.weight_grads[i], cols[i] + cols[i + 1]), (proof.updates[i], cols[i] + cols[i + 1])]
        if i < depth - 1:
            shaped += [(proof.activations[i], a + cols[i + 1]), (proof.grad_inputs[i], a + cols[i + 1])]
    if any(
        c.num_vars != v or c.columns is not None or len(c.rows) != 1 << (v - column_vars(v)) or v > pp.max_log_n
        for c, v in shaped
    ):
        return False
    generators = pp.generators()
    transcript = _start_transcript(
        pp,
        proof.rows,
        proof.model,
        [proof.input, *proof.pre_activations, *proof.activations, *proof.grad_outputs],
        [*proof.grad_inputs, *proof.weight_grads, *proof.updates],
    )
    checks = BatchCheck()
    inputs = [proof.input, *proof.activations]
    model = proof.model
    # (shape, proof, X, W, b, Z) of every linear relation, in transcript order
    relations = [
        (
            LinearShape(proof.rows, a, cols[i], cols[i + 1]),
            proof.forward[i],
            inputs[i],
            model.weights[i],
            model.biases[i],
            proof.pre_activations[i],
        )
        for i in range(depth)
    ]
    relations += [
        (
            LinearShape(proof.rows, a, cols[i + 1], cols[i], w_transposed=True),
            proof.backward[n],
            proof.grad_outputs[i],
            model.weights[i],
            _zero_commitment(cols[i]),
            proof.grad_inputs[i - 1],
        )
        for n, i in enumerate(reversed(range(1, depth)))
    ]
    relations += [
        (
            LinearShape(1 << cols[i], cols[i], a, cols[i + 1], x_transposed=True),
            proof.weight_gradient[n],
            inputs[i],
            proof.grad_outputs[i],
            _zero_commitment(cols[i + 1]),
            proof.weight_grads[i],
        )
        for n, i in enumerate(reversed(range(depth)))
    ]
    for shape, linear, x, w, b, z in relations:
        if not verify_linear(transcript, shape, linear, x, w, b, z, generators, checks):
            return False
    for h, relu in enumerate(proof.relu):
        pinned = {
            "z": proof.pre_activations[h],
            "a": proof.activations[h],
            "bits": relu.commitments.get("bits"),
            "grad_a": proof.grad_inputs[h],
            "grad_z": proof.grad_outputs[h],
        }
        if not _relu_ok(pp, relu, pinned, a + cols[h + 1]):
            return False
    for i, rescale in enumerate(proof.rescale):
        zero = _zero_commitment(cols[i] + cols[i + 1])
        pinned = {
            "z": zero,
            "a": zero,
            "bits": rescale.commitments.get("bits"),
            "grad_a": proof.weight_grads[i],
            "grad_z": proof.updates[i],
        }
        if not _relu_ok(pp, rescale, pinned, cols[i] + cols[i + 1]):
            return False
    return checks.verify()


def _relu_ok(pp: Params, relu: ReluProof, pinned: dict[str, Commitment | None], num_vars: int) -> bool:
    if not isinstance(relu, ReluProof) or not relu.backward or relu.instances != 1 or pinned["bits"] is None:
        return False
    commitments = {name: value for name, value in pinned.items() if value is not None}
    return verify_relu(pp, relu, commitments=commitments, n=1 << num_vars)


def _zero_commitment(num_vars: int) -> Commitment:
    """The commitment to an all-zero table with zero blinds: identity rows (public, no secret)."""
    return Commitment(num_vars, tuple(group.identity() for _ in range(1 << (num_vars - column_vars(num_vars)))))


def _zero_opened(num_vars: int) -> Opened:
    return Opened(np.zeros(1 << num_vars, dtype=np.int64), [0] * (1 << (num_vars - column_vars(num_vars))))


def _checked(values: np.ndarray, pp: Params, name: str) -> np.ndarray:
    worst = max(abs(int(values.min())), abs(int(values.max()))) if values.size else 0
    if worst > -pp.min_value - 1:
        raise ParameterError(
            f"{name} reaches magnitude {worst}, outside the {pp.bits}-bit range of Q={pp.q_bits}, R={pp.frac_bits}; "
            "use a larger q_bits or smaller gradients"
        )
    return values.astype(np.int64)


def _ints(values: np.ndarray) -> list[int]:
    return [int(v) for v in values.tolist()]


def _start_transcript(
    pp: Params, rows: int, model: ModelCommitment, forward: list[Commitment], backward: list[Commitment]
) -> Transcript:
    transcript = statement_transcript(b"securecompute/zktrain/v1", b"train", pp, rows, model)
    for commitment in [*forward, *backward]:
        transcript.append_points(b"train/com", commitment.rows)
    return transcript

"""Zero-knowledge proofs of a whole MLP inference over shared commitments (zkDL's FAC4DNN wiring).

The prover commits once to every tensor of the forward pass -- the input ``X`` (rows x d_0), each layer's
pre-activation ``Z_l`` and each hidden activation ``A_l`` -- and proves, over these *same* commitments:

- per layer, ``Z_l = A_{l-1} W_l + 1_rows b_l`` (:mod:`securecompute.zk.linear`, with ``A_0 = X``), against the
  model owner's published commitments to ``W_l`` and ``b_l`` (:func:`securecompute.zk.model.commit_model`);
- per hidden layer, ``A_l = ReLU(rescale(Z_l))`` (a zkReLU proof whose ``z`` and ``a`` commitments are
  ``Z_l`` and ``A_l``: the blinds are shared inside the prover, so no commitment is made twice).

Every table is padded to ``2**a`` rows (a = ceil(log2 rows)) and ``2**ceil(log2 d)`` columns and flattened
row-major; the zkReLU proof of layer l covers all ``2**(a + c_l)`` entries (the padded ones are zero).  The
linear proofs share one Fiat-Shamir transcript that first absorbs the statement (parameters, dimensions,
rows) and every commitment; each zkReLU proof runs its own transcript over its commitments, which are pinned
by the verifier to ``Z_l`` and ``A_l``.  The spec is ``protocols/zkmlp.md``.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import numpy as np

from securecompute.errors import ParameterError, SecureComputeError
from securecompute.zk.commit import BlindSource, Commitment, commit
from securecompute.zk.group import BatchCheck
from securecompute.zk.linear import LinearShape, Opened, prove_linear, verify_linear
from securecompute.zk.mlp_proof import MlpProof
from securecompute.zk.model import (
    CommittedModel,
    MlpModel,
    ModelCommitment,
    commit_model,
    log2_ceil,
    mlp_reference,
    pad_matrix,
    same_commitment,
)
from securecompute.zk.params import Params
from securecompute.zk.relu import prove_from_witness, verify_relu
from securecompute.zk.transcript import Transcript
from securecompute.zk.witness import build_witness

__all__ = ["prove_mlp", "verify_mlp"]

_log = logging.getLogger(__name__)


def prove_mlp(pp: Params, model: CommittedModel | MlpModel, x: Any, *, seed: int | None = None) -> MlpProof:
    """Prove the inference ``logits = MLP(x)`` of a committed model on a batch ``x``.

    Args:
        pp: parameters (Q, R, max_log_n; :meth:`Params.setup`); every padded table must fit ``2**max_log_n``.
        model: the owner's :class:`CommittedModel` (its published commitment is what verifiers pin), or a bare
            :class:`MlpModel`, which is committed here with fresh blinds.
        x: int64 inputs (rows x d_0) at scale ``2**R`` (:func:`securecompute.zk.model.quantize_input`).
        seed: None (blinds from :mod:`secrets`) or an int, for reproducible tests only (not zero knowledge to
            whoever knows the seed and can guess the inputs).

    Returns:
        the proof; ``proof.output`` is the commitment to the logits ``Z_L`` (scale ``2**(2R)``).

    Raises:
        ParameterError: bad input or sizes (checked before any group operation).
    """
    if not isinstance(pp, Params):
        raise ParameterError(f"pp must be a Params, got {type(pp).__name__}")
    committed = model if isinstance(model, CommittedModel) else None
    bare = committed.model if committed is not None else model
    if not isinstance(bare, MlpModel):
        raise ParameterError(f"model must be a CommittedModel or an MlpModel, got {type(model).__name__}")
    zs, activations = mlp_reference(pp, bare, x)
    return prove_from_tensors(pp, model, x, zs, activations, seed=seed)


def prove_from_tensors(
    pp: Params,
    model: CommittedModel | MlpModel,
    x: Any,
    zs: list[np.ndarray],
    activations: list[np.ndarray],
    *,
    seed: int | None = None,
) -> MlpProof:
    """Prove from explicit forward tensors (internal: tests play cheating provers with inconsistent ones).

    ``x`` must have been validated (:func:`mlp_reference`); ``zs`` and ``activations`` are what gets committed.
    """
    committed = model if isinstance(model, CommittedModel) else None
    bare = committed.model if committed is not None else model
    assert isinstance(bare, MlpModel)
    rows = int(np.asarray(x).shape[0])
    a = log2_ceil(rows)
    dims = bare.dims
    col_vars = [log2_ceil(d) for d in dims]
    for index, c in enumerate(col_vars):
        if a + c > pp.max_log_n:
            raise ParameterError(f"a {rows}-row batch of width {dims[index]} exceeds 2**{pp.max_log_n} entries")
        if index and index < len(dims) - 1 and a + c < 1:
            raise ParameterError(f"hidden layer {index} has a single entry; zkReLU needs at least 2")
    if committed is None:
        committed = commit_model(pp, bare, seed=seed)
    blinds = BlindSource(None if seed is None else int(seed) % (1 << 256), _context(pp, committed, x))
    generators = pp.generators()

    def commit_table(values: np.ndarray, num_vars: int) -> tuple[Commitment, Opened]:
        commitment, row_blinds = commit([int(v) for v in values.tolist()], num_vars, blinds, generators)
        return commitment, Opened(values, row_blinds)

    input_com, input_open = commit_table(pad_matrix(np.asarray(x, dtype=np.int64), a, col_vars[0]), a + col_vars[0])
    z_coms, z_opens, act_coms, act_opens = [], [], [], []
    for index, z in enumerate(zs):
        com, opened = commit_table(pad_matrix(z, a, col_vars[index + 1]), a + col_vars[index + 1])
        z_coms.append(com)
        z_opens.append(opened)
        if index < len(activations):
            com, opened = commit_table(pad_matrix(activations[index], a, col_vars[index + 1]), a + col_vars[index + 1])
            act_coms.append(com)
            act_opens.append(opened)
    transcript = _start_transcript(pp, rows, committed.commitment, input_com, z_coms, act_coms)
    linear_proofs = []
    for index in range(bare.depth):
        shape = LinearShape(rows, a, col_vars[index], col_vars[index + 1])
        layer_input = input_open if index == 0 else act_opens[index - 1]
        weights = Opened(committed.weight_tables[index], committed.weight_blinds[index])
        bias = Opened(committed.bias_tables[index], committed.bias_blinds[index])
        linear_proofs.append(
            prove_linear(transcript, shape, layer_input, weights, bias, z_opens[index], blinds, generators)
        )
    relu_proofs = []
    for index in range(len(activations)):
        witness = build_witness(pp, z_opens[index].values)
        witness.a = [int(v) for v in act_opens[index].values.tolist()]  # the committed table (honest: the same)
        shared = {
            "z": (z_coms[index], z_opens[index].blinds),
            "a": (act_coms[index], act_opens[index].blinds),
        }
        relu_proofs.append(prove_from_witness(pp, witness, blinds, shared))
    return MlpProof(
        params_digest=pp.digest(),
        q_bits=pp.q_bits,
        frac_bits=pp.frac_bits,
        max_log_n=pp.max_log_n,
        rows=rows,
        model=committed.commitment,
        input=input_com,
        pre_activations=tuple(z_coms),
        activations=tuple(act_coms),
        linear=tuple(linear_proofs),
        relu=tuple(relu_proofs),
    )


def verify_mlp(
    pp: Params,
    proof: MlpProof,
    *,
    weight_commitments: ModelCommitment | None = None,
    input_commitment: Commitment | None = None,
    output_commitment: Commitment | None = None,
    rows: int | None = None,
) -> bool:
    """Check ``proof`` under ``pp``: True if every layer's relations hold over the shared commitments.

    Without ``weight_commitments`` a True result says only that *some* committed model maps *some* committed
    input to the committed output; pin the model owner's published :class:`ModelCommitment` (and the input
    or output commitments you hold, and the batch size) to make it a statement about them.  Any pinned value
    that differs verifies False.

    Raises:
        ParameterError: arguments of the wrong type (a caller bug, not a bad proof).
    """
    if not isinstance(pp, Params) or not isinstance(proof, MlpProof):
        raise ParameterError("verify_mlp(pp, proof) needs a Params and an MlpProof")
    if not pins_match(proof, weight_commitments, input_commitment, rows):
        return False
    if output_commitment is not None and not isinstance(output_commitment, Commitment):
        raise ParameterError("output_commitment must be a Commitment or None")
    if output_commitment is not None and not same_commitment(output_commitment, proof.output):
        return False
    try:
        return _verify(pp, proof)
    except (SecureComputeError, ValueError, ArithmeticError) as error:
        _log.debug("zkMLP proof rejected: %s", error)
        return False


def pins_match(
    proof: Any, weight_commitments: ModelCommitment | None, input_commitment: Commitment | None, rows: int | None
) -> bool:
    """Whether a proof (``MlpProof`` or ``TrainStepProof``) carries the pinned model, input and batch size.

    Raises:
        ParameterError: a pinned value of the wrong type.
    """
    if weight_commitments is not None and not isinstance(weight_commitments, ModelCommitment):
        raise ParameterError("weight_commitments must be a ModelCommitment (from commit_model(...).commitment)")
    if input_commitment is not None and not isinstance(input_commitment, Commitment):
        raise ParameterError("input_commitment must be a Commitment or None")
    if rows is not None and (not isinstance(rows, (int, np.integer)) or isinstance(rows, bool) or rows < 1):
        raise ParameterError(f"rows must be a positive int or None, got {rows!r}")
    if weight_commitments is not None and not weight_commitments.same_as(proof.model):
        _log.debug("proof rejected: its model commitment is not the pinned one")
        return False
    if input_commitment is not None and not same_commitment(input_commitment, proof.input):
        return False
    return rows is None or proof.rows == int(rows)


def same_params(pp: Params, proof: Any) -> bool:
    """The proof names exactly these parameters (digest, Q, R, max_log_n)."""
    return bool(
        proof.params_digest == pp.digest()
        and (proof.q_bits, proof.frac_bits, proof.max_log_n) == (pp.q_bits, pp.frac_bits, pp.max_log_n)
    )


def _verify(pp: Params, proof: MlpProof) -> bool:
    if not same_params(pp, proof) or not proof.shapes_consistent():
        return False
    dims = proof.model.dims
    a = log2_ceil(proof.rows)
    col_vars = [log2_ceil(d) for d in dims]
    generators = pp.generators()
    transcript = _start_transcript(
        pp, proof.rows, proof.model, proof.input, list(proof.pre_activations), list(proof.activations)
    )
    checks = BatchCheck()
    for index, linear in enumerate(proof.linear):
        shape = LinearShape(proof.rows, a, col_vars[index], col_vars[index + 1])
        layer_input = proof.input if index == 0 else proof.activations[index - 1]
        if not verify_linear(
            transcript,
            shape,
            linear,
            layer_input,
            proof.model.weights[index],
            proof.model.biases[index],
            proof.pre_activations[index],
            generators,
            checks,
        ):
            return False
    for index, relu in enumerate(proof.relu):
        if relu.backward or relu.instances != 1 or "bits" not in relu.commitments:
            return False
        pinned = {"z": proof.pre_activations[index], "a": proof.activations[index], "bits": relu.commitments["bits"]}
        if not verify_relu(pp, relu, commitments=pinned, n=1 << (a + col_vars[index + 1])):
            return False
    return checks.verify()


def statement_transcript(domain: bytes, prefix: bytes, pp: Params, rows: int, model: ModelCommitment) -> Transcript:
    """A transcript under ``domain`` that has absorbed the parameters, rows, dimensions and the model's commitments."""
    transcript = Transcript(domain)
    transcript.append_message(prefix + b"/params", pp.digest())
    transcript.append_int(prefix + b"/rows", rows)
    transcript.append_int(prefix + b"/layers", len(model.weights))
    for dim in model.dims:
        transcript.append_int(prefix + b"/dim", dim)
    for weight, bias in zip(model.weights, model.biases, strict=True):
        transcript.append_points(prefix + b"/com/w", weight.rows)
        transcript.append_points(prefix + b"/com/b", bias.rows)
    return transcript


def _start_transcript(
    pp: Params,
    rows: int,
    model: ModelCommitment,
    input_commitment: Commitment,
    pre_activations: list[Commitment],
    activations: list[Commitment],
) -> Transcript:
    """Absorb the statement and every commitment, in a fixed order (``protocols/zkmlp.md`` section 4)."""
    transcript = statement_transcript(b"securecompute/zkmlp/v1", b"mlp", pp, rows, model)
    transcript.append_points(b"mlp/com/x", input_commitment.rows)
    for commitment in pre_activations:
        transcript.append_points(b"mlp/com/z", commitment.rows)
    for commitment in activations:
        transcript.append_points(b"mlp/com/a", commitment.rows)
    return transcript


def _context(pp: Params, committed: CommittedModel, x: Any) -> bytes:
    """Keys a seeded blind stream by the parameters, the model and the input (as zkReLU's seeded proofs are)."""
    state = hashlib.blake2b(b"securecompute/zkmlp/v1/seeded-witness", digest_size=32)
    state.update(pp.digest())
    for table in (*committed.weight_tables, *committed.bias_tables):
        state.update(np.asarray(table, dtype="<i8").tobytes())
    state.update(np.asarray(x, dtype="<i8").tobytes())
    return state.digest()

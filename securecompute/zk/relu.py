"""zkReLU: prove ``A = ReLU(rescale(Z))`` (and ``G_Z = (1 - s) . rescale(G_A)``) over committed tensors.

Witness, for n inputs padded with zeros to ``2**m`` (m >= 1): ``Z`` (int, scale ``2**(2R)``), optional
``G_A``, the outputs ``A`` and ``G_Z``, and the advice tensor ``bits`` holding each input's B
two's-complement bits (slot ``j`` of block ``t``, ``t = 0`` for Z and ``t = 1`` for G_A, padded to
``2**k`` slots, ``k = ceil(log2 B)``), flattened as ``(i * 2**tau + t) * 2**k + j`` (tau = 1 with a gradient).

Relations proved (all over F_r, with ``s_i = bit_{i,B-1}``):

1. every advice entry is 0 or 1;
2. ``Z_i = sum_{j<B-1} 2**j b_{ij} - 2**(B-1) b_{i,B-1}`` (and the same for ``G_A`` from block 1);
3. ``Z'_i = b_{i,R-1} + sum_{R<=j<=B-2} 2**(j-R) b_{ij} - 2**(Q-1) b_{i,B-1}``, which equals
   ``floor((Z_i + 2**(R-1)) / 2**R)`` exactly (round half up);  ``G'`` likewise;
4. ``A_i = (1 - s_i) Z'_i`` and ``G_Z,i = (1 - s_i) G'_i``;
5. every bit of a padded element ``i >= n`` is zero, so (by 2-4) ``Z_i = A_i = G_A,i = G_Z,i = 0`` there.

Stacking (:func:`prove_relu_stack`, FAC4DNN): k instances of n elements are concatenated instance-major (zero
instances up to ``2**kappa``) and proved as one table whose highest ``kappa`` element variables index the
instance; relation 5 also zeroes the padding instances (``protocols/zkrelu.md`` section 13).

Protocol (Fiat-Shamir; the transcript order is the order of this list, see ``protocols/zkrelu.md``).
Every claim below is sent as a Pedersen commitment and every sumcheck round as commitments to its
values, so the proof is zero knowledge (Hyrax-style):
commit Z, A, bits (and G_A, G_Z); draw ``u`` and ``lambda``; commit ``c_u = A(u) + lambda G_Z(u)``;
sumcheck 1 (m rounds, degree 3) of ``sum_i eq(u,i) (1 - s_i)(Z'_i + lambda G'_i)`` ending at ``r``; commit
``S = s(r)``, ``Z'(r)``, ``Z(r)`` (and ``G'(r)``, ``G_A(r)``); a product proof ties sumcheck 1's final claim
to them; draw ``alpha_1..5``, ``alpha_pad`` and ``w``; sumcheck 2 (m + tau + k rounds, degree 3) of
``sum_x eq(w,x) b(x)(b(x) - 1) + eq(r, x_hi) (c(x_lo) + [x_hi >= n] alpha_pad c_pad(x_lo)) b(x)
= alpha . (Z(r), Z'(r), S, G_A(r), G'(r)) + alpha_pad * 0``
ending at ``rho``; commit ``b(rho)``; a product proof for the final claim; then three Hyrax evaluation
proofs against the committed values: ``A + lambda G_Z`` at u, ``Z + mu G_A`` at r, bits at rho.  The
verifier collects every group equation in one :class:`~securecompute.zk.group.BatchCheck` (one MSM).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from itertools import compress
from typing import Any

import numpy as np

from securecompute.errors import ParameterError, SecureComputeError
from securecompute.zk import group, limbs
from securecompute.zk.commit import (
    BlindSource,
    Commitment,
    commit,
    prove_evaluation,
    verify_evaluation,
)
from securecompute.zk.field import MODULUS, eq_eval, eq_table, mle_eval, to_field
from securecompute.zk.group import BatchCheck, Combination, Point
from securecompute.zk.params import Params
from securecompute.zk.proof import ReluProof, Shapes
from securecompute.zk.sigma import commit_scalar, prove_product, verify_product
from securecompute.zk.sumcheck import prove_eq_sumcheck_limbs, verify_sumcheck_zk
from securecompute.zk.transcript import Transcript
from securecompute.zk.witness import Witness, build_stack_witness, build_witness, relu_reference

__all__ = [
    "Witness",
    "build_stack_witness",
    "build_witness",
    "prove_from_witness",
    "prove_relu",
    "prove_relu_stack",
    "relu_reference",
    "verify_relu",
    "verify_relu_stack",
]

_log = logging.getLogger(__name__)


def prove_relu(pp: Params, z: Any, grad_a: Any | None = None, *, seed: int | None = None) -> ReluProof:
    """Commit to ``Z``, ``A = ReLU(rescale(Z))`` and the bit advice (and ``G_A``, ``G_Z``), and prove it.

    Args:
        pp: parameters from :meth:`Params.setup`.
        z: int64 pre-activations at scale ``2**(2R)`` (see :func:`securecompute.zk.quantize`), any shape,
            at most ``2**max_log_n`` elements.
        grad_a: optional incoming gradient, same shape and range as ``z``; adds the backward relation.
        seed: None (blinds from :mod:`secrets`; use this) or an int for reproducible proofs in tests and
            vectors only.  A seeded proof is *not* zero knowledge to anyone who knows the seed and can guess
            or bound the inputs (they can recompute the blinds and test a guess against the commitments).
            The seeded stream is keyed by a hash of the parameters and the whole witness, so two proofs with
            the same seed over different inputs do not share blinds; the same seed over the same inputs gives
            the same bytes.

    Returns:
        the proof, holding the commitments (``proof.commitments``) and everything the verifier needs.

    Raises:
        ParameterError: bad input, checked before any group operation.
    """
    if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0):
        raise ParameterError(f"seed must be None or a non-negative int, got {seed!r}")
    witness = build_witness(pp, z, grad_a)
    if seed is None:
        return prove_from_witness(pp, witness, BlindSource(None))
    return prove_from_witness(pp, witness, BlindSource(int(seed) % (1 << 256), _witness_context(pp, witness)))


def prove_relu_stack(
    pp: Params, zs: Sequence[Any], grads: Sequence[Any] | None = None, *, seed: int | None = None
) -> ReluProof:
    """Prove k ReLU instances (layers or steps, FAC4DNN-style) in one proof whose size grows with log k.

    The k tensors (each n elements, the same n for all) are stacked instance-major into one table of
    ``2**(m + kappa)`` elements, ``kappa = ceil(log2 k)``; instance index = the highest ``kappa`` element
    variables of the same two sumchecks.  Missing instances up to ``2**kappa`` are zero and constrained to be
    (relation 5).  Each commitment is the instances' own Hyrax rows one after the other
    (:meth:`ReluProof.instance_commitments`), so commitment bytes grow linearly in k, while the sumchecks grow
    by ``kappa`` rounds each and the claims, product proofs and openings stay the same size.

    Args:
        pp: parameters; ``2**(m + kappa)`` must be at most ``2**max_log_n``.
        zs: one int array per instance (quantised, as for :func:`prove_relu`), all with n elements.
        grads: None, or one incoming gradient per instance (adds the backward relation to every instance).
        seed: as for :func:`prove_relu` (tests and vectors only).

    Raises:
        ParameterError: bad input, different instance sizes, or a stack over ``2**max_log_n`` elements.
    """
    if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0):
        raise ParameterError(f"seed must be None or a non-negative int, got {seed!r}")
    witness = build_stack_witness(pp, zs, grads)
    if seed is None:
        return prove_from_witness(pp, witness, BlindSource(None))
    return prove_from_witness(pp, witness, BlindSource(int(seed) % (1 << 256), _witness_context(pp, witness)))


def verify_relu_stack(
    pp: Params,
    proof: ReluProof,
    instances: int,
    *,
    commitments: Sequence[Mapping[str, Commitment]] | None = None,
    n: int | None = None,
) -> bool:
    """Check a stacked proof of exactly ``instances`` instances; optionally pin each instance's commitments.

    Args:
        pp: the parameters the verifier trusts.
        proof: from :func:`prove_relu_stack` (or its bytes).
        instances: the number k of instances the verifier expects (a proof of another k verifies False).
        commitments: None, or one mapping per instance, in order, of that instance's commitments (as from
            :meth:`ReluProof.instance_commitments` of the proofs that share them); any difference, including
            another order, verifies False.
        n: None, or the number of elements per instance the verifier expects (the padding beyond the proof's
            own n is proved zero, so pin n when you rely on that).

    Raises:
        ParameterError: arguments of the wrong type.
    """
    if not isinstance(instances, (int, np.integer)) or isinstance(instances, bool) or instances < 1:
        raise ParameterError(f"instances must be a positive int, got {instances!r}")
    if not isinstance(proof, ReluProof):
        raise ParameterError("verify_relu_stack(pp, proof, instances) needs a ReluProof")
    if proof.instances != int(instances) or not _expected_n(proof, n):
        return False
    if commitments is not None:
        if not isinstance(commitments, Sequence) or not all(isinstance(item, Mapping) for item in commitments):
            raise ParameterError("commitments must be a sequence with one mapping of commitments per instance")
        if len(commitments) != instances:
            return False
        for index, expected in enumerate(commitments):
            if not all(isinstance(value, Commitment) for value in expected.values()):
                raise ParameterError("commitments must map names to Commitment objects")
            try:
                own = proof.instance_commitments(index)
            except (SecureComputeError, ValueError) as error:  # a hand-built proof with impossible parameters
                _log.debug("zkReLU stack rejected: %s", error)
                return False
            if not _same_commitments(expected, own):
                return False
    return verify_relu(pp, proof)


def _expected_n(proof: ReluProof, n: int | None) -> bool:
    """True when no n is pinned or the proof states exactly that n (ParameterError for a non-int n)."""
    if n is None:
        return True
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ParameterError(f"n must be a positive int or None, got {n!r}")
    if proof.n != int(n):
        _log.debug("zkReLU proof rejected: it states n=%d, the verifier expects %d", proof.n, n)
        return False
    return True


def _witness_context(pp: Params, witness: Witness) -> bytes:
    """Hash of the parameters, the statement's shape and every witness table (keys a seeded blind stream)."""
    state = hashlib.blake2b(b"securecompute/zkrelu/v1/seeded-witness", digest_size=32)
    state.update(pp.digest())
    state.update(witness.n.to_bytes(8, "big") + bytes([int(witness.backward)]))
    if witness.instances != 1:
        state.update(b"instances" + witness.instances.to_bytes(8, "big"))
    for table in (witness.z, witness.a, witness.grad_a, witness.grad_z):
        if table is not None:
            state.update(len(table).to_bytes(8, "big"))
            state.update(np.asarray(table, dtype="<i8").tobytes())
    return state.digest()


def verify_relu(
    pp: Params, proof: ReluProof, *, commitments: Mapping[str, Commitment] | None = None, n: int | None = None
) -> bool:
    """Check ``proof`` under ``pp``: True if every relation holds; False otherwise (never raises on a bad proof).

    What is verified: that the tensors committed in ``proof.commitments`` satisfy the ReLU relation under
    ``pp``.  Without ``commitments`` those are the proof's *own* commitments, chosen by the prover, so a True
    result says only that *some* committed tensors satisfy the relation.  To tie the proof to tensors you
    already hold commitments to (e.g. from a matmul proof), pass them: the proof must carry exactly these
    commitments (same names, shapes and points), else the result is False.  The parameters are always
    ``pp``, never the ones the proof names: a proof made under other parameters verifies False.

    Args:
        pp: the parameters the verifier trusts.
        proof: the proof (e.g. from :meth:`ReluProof.from_bytes`).
        commitments: optional expected commitments, by name (``z``, ``a``, ``bits``, and ``grad_a``,
            ``grad_z`` for a backward proof); all of the proof's commitments must be given.
        n: None, or the number of elements the verifier expects; the entries beyond the proof's own n are
            proved zero, so pin n when you rely on the padding of pinned commitments.

    Raises:
        ParameterError: ``pp``, ``proof`` or ``commitments`` is not of the right type (a caller bug, not a bad
            proof).
    """
    if not isinstance(pp, Params) or not isinstance(proof, ReluProof):
        raise ParameterError("verify_relu(pp, proof) needs a Params and a ReluProof")
    if not _expected_n(proof, n):
        return False
    if commitments is not None:
        if not isinstance(commitments, Mapping) or not all(
            isinstance(value, Commitment) for value in commitments.values()
        ):
            raise ParameterError("commitments must be a mapping from names to Commitment objects")
        if not _same_commitments(commitments, proof.commitments):
            _log.debug("zkReLU proof rejected: its commitments are not the expected ones")
            return False
    try:
        return _verify(pp, proof)
    except (SecureComputeError, ValueError, ArithmeticError) as error:
        # what a parsed-but-wrong or hand-modified proof can raise: shape mismatches (ValueError from strict
        # zips and field helpers), a zero inverse (ArithmeticError), and the package's own errors; anything
        # else (TypeError, AttributeError, ...) is a verifier bug and propagates
        _log.debug("zkReLU proof rejected: %s", error)
        return False


def _same_commitments(expected: Mapping[str, Commitment], actual: Mapping[str, Commitment]) -> bool:
    """Same names and, for each, the same shape and the same points (compared by canonical encoding)."""
    if set(expected) != set(actual):
        return False
    for name, commitment in expected.items():
        other = actual[name]
        if (
            commitment.num_vars != other.num_vars
            or commitment.col_vars != other.col_vars
            or len(commitment.rows) != len(other.rows)
        ):
            return False
        if any(
            group.encode_point(left) != group.encode_point(right)
            for left, right in zip(commitment.rows, other.rows, strict=True)
        ):
            return False
    return True


# --- weights of the recomposition relations ---------------------------------------------------


def _bit_weights(pp: Params) -> tuple[list[int], list[int], list[int]]:
    """Per-slot weights (length ``2**k``): recomposition of Z, of rescale(Z), and the sign selector."""
    slots = 1 << pp.slot_vars
    top = pp.bits - 1
    value = [0] * slots
    rescaled = [0] * slots
    sign = [0] * slots
    for j in range(top):
        value[j] = 1 << j
        if j >= pp.frac_bits:
            rescaled[j] = 1 << (j - pp.frac_bits)
    rescaled[pp.frac_bits - 1] += 1  # the round-half-up carry
    value[top] = -(1 << top)
    rescaled[top] = -(1 << (pp.q_bits - 1))
    sign[top] = 1
    return value, rescaled, sign


def _slot_weights(pp: Params, alphas: Sequence[int], backward: bool) -> list[int]:
    """``c`` over the slot index (t, j): ``alpha_1 w + alpha_2 w' + alpha_3 sign`` on block 0, ``alpha_4 w + alpha_5 w'`` on 1."""
    value, rescaled, sign = _bit_weights(pp)
    weights = [alphas[0] * v + alphas[1] * w + alphas[2] * s for v, w, s in zip(value, rescaled, sign, strict=True)]
    if backward:
        weights += [alphas[3] * v + alphas[4] * w for v, w in zip(value, rescaled, strict=True)]
    return [weight % MODULUS for weight in weights]


# --- prover -----------------------------------------------------------------------------------


def prove_from_witness(
    pp: Params,
    witness: Witness,
    blinds: BlindSource,
    shared: Mapping[str, tuple[Commitment, list[int]]] | None = None,
) -> ReluProof:
    """Prove from an explicit witness (internal; an inconsistent witness yields a proof that fails).

    ``shared`` maps table names (``z``, ``a``, ...) to a commitment made elsewhere and its row blinds, e.g. by
    the linear layer that produced Z or consumes A (:mod:`securecompute.zk.mlp`); those tables are not
    committed again, so the proof is about the very same commitments.  The caller guarantees that each
    shared commitment is to this witness's table with the default column split.
    """
    p = MODULUS
    m = witness.log_size
    backward = witness.backward
    layout = Shapes.of(pp.slot_vars, witness.n, witness.instances, backward)
    if layout.total != m or len(witness.bits) != 1 << layout.bit_vars:
        raise ParameterError("witness tables do not match n, the number of instances and the backward flag")
    # the advice table is the widest; smaller proofs derive (and cache) fewer generators
    generators = pp.generators(1 << layout.bit_col_vars)
    tables: dict[str, list[int]] = {"z": witness.z, "a": witness.a, "bits": witness.bits}
    if backward:
        assert witness.grad_a is not None and witness.grad_z is not None
        tables["grad_a"] = witness.grad_a
        tables["grad_z"] = witness.grad_z
    bit_vars = (len(witness.bits) - 1).bit_length()
    commitments: dict[str, Commitment] = {}
    row_blinds: dict[str, list[int]] = {}
    for name, table in tables.items():
        is_bits = name == "bits"
        if shared is not None and name in shared:
            commitments[name], row_blinds[name] = shared[name]
            continue
        commitments[name], row_blinds[name] = commit(
            table, bit_vars if is_bits else m, blinds, generators, layout.explicit(is_bits)
        )
    field = {name: to_field(table) for name, table in tables.items()}

    def hide(label: bytes, values: Sequence[int]) -> tuple[list[Point], list[int]]:
        """Commit to claimed values with fresh blinds and absorb the commitments."""
        value_blinds = blinds.scalars(len(values))
        points = [commit_scalar(v, b, generators) for v, b in zip(values, value_blinds, strict=True)]
        transcript.append_points(label, points)
        return points, value_blinds

    transcript = _start_transcript(pp, witness.n, m, witness.instances, backward, commitments)
    u = transcript.challenges(b"relu/u", m)
    lam = transcript.challenge(b"relu/lambda") if backward else 0
    out_table = _combine(field["a"], field.get("grad_z"), lam)
    claim_u = limbs.mle(_to_limbs(out_table), u)
    (claim_u_point,), (claim_u_blind,) = hide(b"relu/claim-u", [claim_u])

    slots = 1 << pp.slot_vars
    _, rescaled_w, _ = _bit_weights(pp)
    # (2^m, blocks, slots) view of the advice; weights and sums fit int64 (|weight| <= 2^(Q-1), B <= 62)
    advice = np.array(witness.bits, dtype=object if _too_wide(witness.bits) else np.int64).reshape(1 << m, -1, slots)
    weights = np.array(rescaled_w, dtype=advice.dtype)
    sign = advice[:, 0, pp.bits - 1].tolist()
    rescaled_z = to_field((advice[:, 0, :] @ weights).tolist())
    rescaled_g = to_field((advice[:, 1, :] @ weights).tolist()) if backward else None
    y = _combine(rescaled_z, rescaled_g, lam)
    forward, r, _, final1 = prove_eq_sumcheck_limbs(
        transcript,
        b"relu/sc1",
        u,
        (_to_limbs(sign), _to_limbs(y)),
        limbs.ROUND_MASKED,
        (claim_u, claim_u_blind),
        blinds,
        generators,
    )
    claims = [limbs.mle(_to_limbs(table), r) for table in (sign, rescaled_z, field["z"])]
    if backward:
        assert rescaled_g is not None
        claims += [limbs.mle(_to_limbs(table), r) for table in (rescaled_g, field["grad_a"])]
    claim_points, claim_blinds = hide(b"relu/claims-r", claims)
    claim_blinds += [0] * (5 - len(claim_blinds))
    values = claims + [0] * (5 - len(claims))
    # final1 = eq(u, r) (1 - S) (Z'(r) + lambda G'(r)): a product of (1 - S) and e * Y
    e = eq_eval(u, r)
    forward_product = prove_product(
        transcript,
        b"relu/prod1",
        ((1 - values[0]) % p, -claim_blinds[0] % p),
        (e * (values[1] + lam * values[3]) % p, e * (claim_blinds[1] + lam * claim_blinds[3]) % p),
        final1[1],
        blinds,
        generators,
    )

    alphas, alpha_pad, w = _recomposition_challenges(transcript, backward, bit_vars)
    order = (2, 1, 0, 4, 3)  # alpha_1..5 weigh Z(r), Z'(r), S, G_A(r), G'(r)
    claim2 = sum(a * values[k] for a, k in zip(alphas, order, strict=True)) % p
    claim2_blind = sum(a * claim_blinds[k] for a, k in zip(alphas, order, strict=True)) % p
    h = _recomposition_limbs(pp, alphas, alpha_pad, backward, r, layout, witness.n, witness.instances)
    bits_sc, rho, finals, final2 = prove_eq_sumcheck_limbs(
        transcript,
        b"relu/sc2",
        w,
        (h, _to_limbs(witness.bits)),
        limbs.ROUND_BOOLEANITY,
        (claim2, claim2_blind),
        blinds,
        generators,
    )
    bit = finals[1]
    (bit_point,), (bit_blind,) = hide(b"relu/claim-rho", [bit])
    e_w = eq_eval(w, rho)
    h_rho = _recomposition_at(pp, alphas, alpha_pad, backward, r, rho, layout, witness.n, witness.instances)
    # final2 = B (e_w B - e_w + h(rho))
    bits_product = prove_product(
        transcript,
        b"relu/prod2",
        (bit, bit_blind),
        ((e_w * bit - e_w + h_rho) % p, e_w * bit_blind % p),
        final2[1],
        blinds,
        generators,
    )

    mu = transcript.challenge(b"relu/mu") if backward else 0
    in_table = _combine(field["z"], field.get("grad_a"), mu)
    openings = (
        prove_evaluation(
            transcript,
            out_table,
            _combine(row_blinds["a"], row_blinds.get("grad_z"), lam),
            u,
            claim_u_blind,
            blinds,
            generators,
            layout.col_vars,
        ),
        prove_evaluation(
            transcript,
            in_table,
            _combine(row_blinds["z"], row_blinds.get("grad_a"), mu),
            r,
            (claim_blinds[2] + mu * claim_blinds[4]) % p,
            blinds,
            generators,
            layout.col_vars,
        ),
        prove_evaluation(
            transcript, field["bits"], row_blinds["bits"], rho, bit_blind, blinds, generators, layout.bit_col_vars
        ),
    )
    return ReluProof(
        params_digest=pp.digest(),
        q_bits=pp.q_bits,
        frac_bits=pp.frac_bits,
        max_log_n=pp.max_log_n,
        n=witness.n,
        backward=backward,
        commitments=commitments,
        claim_u=claim_u_point,
        forward_sumcheck=forward,
        claims_r=tuple(claim_points),
        forward_product=forward_product,
        bits_sumcheck=bits_sc,
        bits_at_rho=bit_point,
        bits_product=bits_product,
        openings=openings,
        instances=witness.instances,
    )


def _start_transcript(
    pp: Params, n: int, m: int, instances: int, backward: bool, commitments: dict[str, Commitment]
) -> Transcript:
    """Absorb the statement; ``m`` is all element variables (``m + kappa`` for a stack).

    ``relu/instances`` is absorbed only for a stack (k >= 2), so one-instance transcripts are unchanged.
    """
    transcript = Transcript()
    transcript.append_message(b"relu/params", pp.digest())
    for label, value in ((b"relu/q", pp.q_bits), (b"relu/r", pp.frac_bits), (b"relu/n", n), (b"relu/m", m)):
        transcript.append_int(label, value)
    if instances != 1:
        transcript.append_int(b"relu/instances", instances)
    transcript.append_int(b"relu/backward", int(backward))
    for name, commitment in commitments.items():
        transcript.append_int(b"relu/com-vars", commitment.num_vars)
        transcript.append_points(b"relu/com/" + name.encode(), commitment.rows)
    return transcript


def _recomposition_challenges(
    transcript: Transcript, backward: bool, bit_vars: int
) -> tuple[list[int], int, list[int]]:
    """``alpha_1..5`` (zeros for the absent backward ones), ``alpha_pad`` and ``w``, in transcript order."""
    alphas = transcript.challenges(b"relu/alpha", 5 if backward else 3)
    alpha_pad = transcript.challenge(b"relu/alpha-pad")
    w = transcript.challenges(b"relu/w", bit_vars)
    return alphas + [0] * (5 - len(alphas)), alpha_pad, w


def _padding_weights(pp: Params, alpha_pad: int, backward: bool) -> list[int]:
    """``alpha_pad c_pad`` over the slot index (t, j): ``c_pad(t, j) = 2**(t B + j)`` for ``j < B``, else 0.

    On binary advice, ``sum_(t,j) c_pad(t, j) b_(i,t,j)`` is the unsigned integer whose bits are all of
    element i's bits (at most 2B <= 124 bits, far below r), so it is zero exactly when every bit is zero.
    """
    slots = 1 << pp.slot_vars
    weights = [0] * (slots << int(backward))
    for block in range(1 + int(backward)):
        for j in range(pp.bits):
            weights[block * slots + j] = alpha_pad * (1 << (block * pp.bits + j)) % MODULUS
    return weights


def _real_and_padded_weights(
    pp: Params, alphas: Sequence[int], alpha_pad: int, backward: bool
) -> tuple[list[int], list[int]]:
    """Slot weights ``c`` of a real element and ``c + alpha_pad c_pad`` of a padded one."""
    weights = _slot_weights(pp, alphas, backward)
    padded = [(c + d) % MODULUS for c, d in zip(weights, _padding_weights(pp, alpha_pad, backward), strict=True)]
    return weights, padded


def _recomposition_table(
    pp: Params,
    alphas: Sequence[int],
    alpha_pad: int,
    backward: bool,
    r: Sequence[int],
    layout: Shapes,
    n: int,
    instances: int = 1,
) -> list[int]:
    """``h(x) = eq(r, x_hi) (c(x_lo) + [x_hi padded] alpha_pad c_pad(x_lo))`` over the advice cube (slots fastest).

    Python-int reference (the prover uses :func:`_recomposition_limbs`; tests compare the two and the verifier's
    :func:`_recomposition_at`).  Element ``I = inst * 2**m + i`` (``x_hi``) is padded when ``i >= n`` or ``inst >= k``.
    """
    weights, padded = _real_and_padded_weights(pp, alphas, alpha_pad, backward)
    low_mask = (1 << layout.m) - 1

    def is_real(index: int) -> bool:
        return (index & low_mask) < n and (index >> layout.m) < instances

    return [e * c % MODULUS for i, e in enumerate(eq_table(r)) for c in (weights if is_real(i) else padded)]


def _recomposition_limbs(
    pp: Params,
    alphas: Sequence[int],
    alpha_pad: int,
    backward: bool,
    r: Sequence[int],
    layout: Shapes,
    n: int,
    instances: int = 1,
) -> np.ndarray:
    """:func:`_recomposition_table` as Montgomery limbs: ``eq(r) (x) c`` with the padded elements' rows replaced."""
    weights, padded = _real_and_padded_weights(pp, alphas, alpha_pad, backward)
    eq_r = limbs.eq_table(r)
    table = limbs.outer(eq_r, limbs.from_field(weights)).reshape(eq_r.shape[0], len(weights), limbs.LIMBS)
    index = np.arange(eq_r.shape[0])
    pad_rows = np.flatnonzero(((index & ((1 << layout.m) - 1)) >= n) | ((index >> layout.m) >= instances))
    if pad_rows.size:
        pad_part = limbs.outer(np.ascontiguousarray(eq_r[pad_rows]), limbs.from_field(padded))
        table[pad_rows] = pad_part.reshape(pad_rows.size, len(padded), limbs.LIMBS)
    return np.ascontiguousarray(table.reshape(-1, limbs.LIMBS))


def _to_limbs(values: Sequence[int]) -> np.ndarray:
    """A witness table (small signed ints, or field elements in a cheating test) as Montgomery limbs."""
    low, high = min(values), max(values)
    if low >= 0 and high <= 1:
        return limbs.from_bits(np.asarray(values, dtype=np.uint64))
    if low > -(1 << 62) and high < 1 << 62:
        return limbs.from_small(np.asarray(values, dtype=np.int64))
    return limbs.from_field(values)


def _recomposition_at(
    pp: Params,
    alphas: Sequence[int],
    alpha_pad: int,
    backward: bool,
    r: Sequence[int],
    rho: Sequence[int],
    layout: Shapes,
    n: int,
    instances: int = 1,
) -> int:
    """The MLE of :func:`_recomposition_table` at ``rho`` in O(2**k + m + kappa) work.

    ``eq(r, rho_hi) c(rho_lo) + T(r, rho_hi) alpha_pad c_pad(rho_lo)``, where ``T(r, p)`` sums
    ``eq(r, I) eq(p, I)`` over the padded elements: all of them (``eq(r, p)``) less the real ones, which
    factor as ``below(r_elem, p_elem, n) * below(r_inst, p_inst, k)`` (:func:`_below_eq`).
    """
    slot_count = pp.slot_vars + int(backward)
    slot_weight = mle_eval(_slot_weights(pp, alphas, backward), rho[:slot_count])
    pad_weight = mle_eval(_padding_weights(pp, alpha_pad, backward), rho[:slot_count])
    hi = rho[slot_count:]
    m = layout.m
    real = _below_eq(r[:m], hi[:m], n) * _below_eq(r[m:], hi[m:], instances) % MODULUS
    everything = eq_eval(r, hi)
    return (everything * slot_weight + (everything - real) * pad_weight) % MODULUS


def _below_eq(r: Sequence[int], point: Sequence[int], n: int) -> int:
    """``sum_{0 <= i < min(n, 2**v)} eq(r, i) eq(point, i)`` over v = len(r) variables (little-endian) in O(v).

    Per bit k the summand factors as ``f_k(i_k)`` with ``f_k(1) = r_k p_k``, ``f_k(0) = (1 - r_k)(1 - p_k)``;
    the sum over all i is ``eq(r, point)``, and the sum over ``i < n`` walks n's bits from the top: where
    ``n_k = 1``, the indices that agree with n above k and have ``i_k = 0`` contribute
    ``prefix * f_k(0) * prod_{k' < k} (f_k'(0) + f_k'(1))``.
    """
    p = MODULUS
    v = len(r)
    ones = [r_k * p_k % p for r_k, p_k in zip(r, point, strict=True)]
    zeros = [(1 - r_k) * (1 - p_k) % p for r_k, p_k in zip(r, point, strict=True)]
    low = [1] * (v + 1)  # low[k] = prod_{k' < k} (f_k'(0) + f_k'(1))
    for k in range(v):
        low[k + 1] = low[k] * (zeros[k] + ones[k]) % p
    if n >= 1 << v:
        return low[v]
    below = 0
    prefix = 1
    for k in reversed(range(v)):
        if (n >> k) & 1:
            below = (below + prefix * zeros[k] % p * low[k]) % p
            prefix = prefix * ones[k] % p
        else:
            prefix = prefix * zeros[k] % p
    return below


def _combine(first: Sequence[int], second: Sequence[int] | None, coefficient: int) -> list[int]:
    """``first + coefficient * second`` mod r (``first`` alone when ``second`` is None)."""
    if second is None:
        return [value % MODULUS for value in first]
    return [(x + coefficient * y) % MODULUS for x, y in zip(first, second, strict=True)]


def _too_wide(values: Sequence[int]) -> bool:
    """True if advice entries (honest: 0/1; a cheating test witness: anything) might overflow int64 dot products."""
    return bool(values) and (max(values) > 1 << 20 or min(values) < -(1 << 20))


def _masked_product(columns: Sequence[list[int]], suffix: list[int]) -> tuple[int, int]:
    """Sumcheck 1, ``sum eq(u,x) (1 - s(x)) y(x)``: inner ``(1 - s) y``, no outer term (Python reference of ``ROUND_MASKED``)."""
    sign, y = columns
    return sum(e * (1 - s) * v for e, s, v in zip(suffix, sign, y, strict=True)) % MODULUS, 0


def _booleanity(columns: Sequence[list[int]], suffix: list[int]) -> tuple[int, int]:
    """Sumcheck 2, ``sum eq(w,x) b(x)(b(x) - 1) + h(x) b(x)``: inner ``b(b - 1)``, outer ``h b`` (Python reference of ``ROUND_BOOLEANITY``)."""
    h, bits = columns
    inner = sum(e * b * (b - 1) for e, b in zip(suffix, bits, strict=True))
    outer = sum(g * b for g, b in zip(h, bits, strict=True))
    return inner % MODULUS, outer % MODULUS


def _booleanity_first_round(tables: Sequence[Sequence[int]], suffix: list[int]) -> tuple[list[int], list[int]] | None:
    """Round 1 of sumcheck 2 by additions only, when every advice entry is 0 or 1 (else None: generic path).

    Python reference of :func:`securecompute.zk.limbs.binary_booleanity_sums` (tests compare them).

    With ``b0, b1`` in {0, 1} on a pair, ``b(X) = b0 + X (b1 - b0)`` and ``b(X)(b(X) - 1)`` is 0 at X = 0 and
    ``X (X - 1)`` where ``b0 != b1``; ``h(X) b(X)`` sums ``h`` over the four cases (b0, b1) with small weights.
    """
    h, bits = tables
    if min(bits) < 0 or max(bits) > 1:
        return None
    advice = np.array(bits, dtype=np.bool_)
    low, high = advice[0::2], advice[1::2]
    cases = {"10": low & ~high, "01": ~low & high, "11": low & high}
    h_low, h_high = h[0::2], h[1::2]
    sums = {
        name: (sum(compress(h_low, mask.tolist())), sum(compress(h_high, mask.tolist())))
        for name, mask in cases.items()
    }
    differing = sum(compress(suffix, (low ^ high).tolist()))

    def outer_at(x: int) -> int:
        # h(X) b(X) with h(X) = (1 - X) h0 + X h1 and b(X) = (1 - X) b0 + X b1 on each case
        total = 0
        for name, (sum_low, sum_high) in sums.items():
            b0, b1 = int(name[0]), int(name[1])
            total += ((1 - x) * b0 + x * b1) * ((1 - x) * sum_low + x * sum_high)
        return total % MODULUS

    inner = [0, 2 * differing % MODULUS, 6 * differing % MODULUS]
    return inner, [outer_at(0), outer_at(2), outer_at(3)]


# --- verifier ---------------------------------------------------------------------------------


def challenge_log(pp: Params, proof: ReluProof) -> list[tuple[str, int]]:
    """Every Fiat-Shamir challenge the verifier derives for ``proof``, in order, as ``(label, value)``.

    For known-answer vectors (``protocols/vectors/zkrelu/``), so that another implementation can compare
    its transcript challenge by challenge.  Replays the verifier; the list stops where verification stops.
    """
    log: list[tuple[bytes, int]] = []
    _verify(pp, proof, log)
    return [(label.decode(), value) for label, value in log]


def _verify(pp: Params, proof: ReluProof, log: list[tuple[bytes, int]] | None = None) -> bool:
    p = MODULUS
    if proof.params_digest != pp.digest() or (proof.q_bits, proof.frac_bits, proof.max_log_n) != (
        pp.q_bits,
        pp.frac_bits,
        pp.max_log_n,
    ):
        return False
    if not 1 <= proof.n <= 1 << pp.max_log_n or not 1 <= proof.instances <= 1 << pp.max_log_n:
        return False
    backward = proof.backward
    layout = Shapes.of(pp.slot_vars, proof.n, proof.instances, backward)
    m, bit_vars = layout.total, layout.bit_vars
    if m > pp.max_log_n:
        return False
    expected = layout.table_shapes(backward)
    if list(proof.commitments) != list(expected):
        return False
    for name, (num_vars, col_vars) in expected.items():
        commitment = proof.commitments[name]
        if (
            commitment.num_vars != num_vars
            or commitment.col_vars != col_vars
            or len(commitment.rows) != 1 << (num_vars - col_vars)
        ):
            return False
    if len(proof.claims_r) != (5 if backward else 3):
        return False
    generators = pp.generators(1 << layout.bit_col_vars)

    transcript = _start_transcript(pp, proof.n, m, proof.instances, backward, dict(proof.commitments))
    transcript.log = log
    checks = BatchCheck()
    u = transcript.challenges(b"relu/u", m)
    lam = transcript.challenge(b"relu/lambda") if backward else 0
    transcript.append_points(b"relu/claim-u", [proof.claim_u])
    ok, r, final1 = verify_sumcheck_zk(transcript, b"relu/sc1", proof.forward_sumcheck, m, 3, proof.claim_u)
    if not ok:
        return False
    transcript.append_points(b"relu/claims-r", proof.claims_r)
    sign_c, rescaled_z_c, z_c = proof.claims_r[:3]
    rescaled_g = proof.claims_r[3] if backward else None
    grad_a = proof.claims_r[4] if backward else None
    e = eq_eval(u, r)
    one_minus_sign = Combination([(generators.value, 1), (sign_c, p - 1)])
    scaled_y = Combination([(rescaled_z_c, e)])
    if rescaled_g is not None:
        scaled_y.add_point(rescaled_g, e * lam)
    verify_product(
        transcript, b"relu/prod1", one_minus_sign, scaled_y, final1, proof.forward_product, generators, checks
    )

    alphas, alpha_pad, w = _recomposition_challenges(transcript, backward, bit_vars)
    claim2 = Combination([(z_c, alphas[0]), (rescaled_z_c, alphas[1]), (sign_c, alphas[2])])
    if grad_a is not None and rescaled_g is not None:
        claim2.add_point(grad_a, alphas[3]).add_point(rescaled_g, alphas[4])
    ok, rho, final2 = verify_sumcheck_zk(transcript, b"relu/sc2", proof.bits_sumcheck, bit_vars, 3, claim2)
    if not ok:
        return False
    transcript.append_points(b"relu/claim-rho", [proof.bits_at_rho])
    h_rho = _recomposition_at(pp, alphas, alpha_pad, backward, r, rho, layout, proof.n, proof.instances)
    e_w = eq_eval(w, rho)
    bit_c = proof.bits_at_rho
    y2 = Combination([(bit_c, e_w), (generators.value, h_rho - e_w)])
    verify_product(transcript, b"relu/prod2", bit_c, y2, final2, proof.bits_product, generators, checks)

    mu = transcript.challenge(b"relu/mu") if backward else 0
    com = proof.commitments
    out_coms = [(com["a"], 1)] + ([(com["grad_z"], lam)] if backward else [])
    in_coms = [(com["z"], 1)] + ([(com["grad_a"], mu)] if backward else [])
    in_value = Combination.of(z_c)
    if grad_a is not None:
        in_value.add_point(grad_a, mu)
    open_u, open_r, open_bits = proof.openings
    shapes_ok = (
        verify_evaluation(transcript, out_coms, u, proof.claim_u, open_u, generators, checks)
        and verify_evaluation(transcript, in_coms, r, in_value, open_r, generators, checks)
        and verify_evaluation(transcript, [(com["bits"], 1)], rho, bit_c, open_bits, generators, checks)
    )
    return shapes_ok and checks.verify()

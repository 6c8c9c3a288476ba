"""Bytes of a model commitment (public, ``zk/model-commitment``) and of the owner's committed model (secret).

Public commitment, envelope kind ``zk/model-commitment``, fingerprint ``pp.digest()``::

    meta        canonical JSON {"dims": [d_0, ..., d_L], "frac_bits", "max_log_n", "q_bits"}
    w.l, b.l    48-byte points, one per Hyrax row of the padded W_l and b_l (l = 1..L)

Owner's file, envelope kind ``zk/model-owner`` (SECRET: the blinds open the commitment; whoever holds this file can
prove with the model and learns every weight), fingerprint ``pp.digest()``::

    meta            as above
    weights.l       int64 array (d_(l-1) x d_l), biases.l int64 array (d_l)   (package array encoding)
    wblinds.l, bblinds.l    32-byte canonical scalars, one per Hyrax row

Both parsers validate ``meta`` (bounded as for ``zk/mlp`` proofs), derive every length before decoding, require
canonical scalars and subgroup points, and recompute nothing silently: the owner's file is checked against its
commitment by recommitting (``commitment_matches``).  Anything malformed raises CorruptPayloadError.
"""

from __future__ import annotations

import numpy as np

from securecompute.encoding import decode_array, encode_array, encode_json, pack, unpack
from securecompute.errors import CorruptPayloadError, ParameterError
from securecompute.zk.commit import Commitment, column_vars, commit
from securecompute.zk.mlp_proof import parse_meta
from securecompute.zk.model import CommittedModel, MlpModel, ModelCommitment, log2_ceil, pad_matrix
from securecompute.zk.params import Params
from securecompute.zk.proof import _points, _read_points, _read_scalars, _scalars

__all__ = ["commitment_from_bytes", "commitment_to_bytes", "owner_from_bytes", "owner_to_bytes"]

PUBLIC_KIND = "zk/model-commitment"
OWNER_KIND = "zk/model-owner"
_META_KEYS = {"dims", "frac_bits", "max_log_n", "q_bits"}


def commitment_to_bytes(pp: Params, commitment: ModelCommitment) -> bytes:
    """The published commitment as bytes."""
    sections = {"meta": _meta(pp, commitment.dims)}
    for index, (weight, bias) in enumerate(zip(commitment.weights, commitment.biases, strict=True)):
        sections[f"w.{index + 1}"] = _points(list(weight.rows))
        sections[f"b.{index + 1}"] = _points(list(bias.rows))
    return pack(PUBLIC_KIND, sections, fingerprint=pp.digest())


def commitment_from_bytes(data: bytes) -> tuple[Params, ModelCommitment]:
    """Parse a published commitment: its parameters and the commitment (CorruptPayloadError if malformed)."""
    try:
        envelope = unpack(data, kind=PUBLIC_KIND)
        pp, dims = _parse_meta(envelope.section("meta"), envelope.fingerprint)
        depth = len(dims) - 1
        expected = ["meta", *[name for i in range(1, depth + 1) for name in (f"w.{i}", f"b.{i}")]]
        if list(envelope.sections) != expected:
            raise CorruptPayloadError(f"model commitment sections are {list(envelope.sections)}, expected {expected}")
        weights, biases = _commitments(envelope, dims, "w.", "b.")
        return pp, ModelCommitment(tuple(dims), weights, biases)
    except CorruptPayloadError:
        raise
    except (ValueError, TypeError, KeyError, OverflowError) as error:
        raise CorruptPayloadError(f"malformed model commitment: {error}") from None


def owner_to_bytes(pp: Params, owner: CommittedModel) -> bytes:
    """The owner's committed model (weights and blinds: secret) as bytes."""
    sections = {"meta": _meta(pp, owner.model.dims)}
    for index in range(owner.model.depth):
        sections[f"weights.{index + 1}"] = encode_array(owner.model.weights[index])
        sections[f"biases.{index + 1}"] = encode_array(owner.model.biases[index])
        sections[f"wblinds.{index + 1}"] = _scalars(owner.weight_blinds[index])
        sections[f"bblinds.{index + 1}"] = _scalars(owner.bias_blinds[index])
    return pack(OWNER_KIND, sections, fingerprint=pp.digest())


def owner_from_bytes(data: bytes) -> tuple[Params, CommittedModel]:
    """Parse the owner's file and recommit with its blinds (CorruptPayloadError if malformed or inconsistent)."""
    try:
        envelope = unpack(data, kind=OWNER_KIND)
        pp, dims = _parse_meta(envelope.section("meta"), envelope.fingerprint)
        depth = len(dims) - 1
        names = ("weights.", "biases.", "wblinds.", "bblinds.")
        expected = ["meta", *[prefix + str(i) for i in range(1, depth + 1) for prefix in names]]
        if list(envelope.sections) != expected:
            raise CorruptPayloadError(f"model owner sections are {list(envelope.sections)}, expected {expected}")
        weights, biases = [], []
        for i in range(depth):
            weights.append(decode_array(envelope.section(f"weights.{i + 1}"), dtype="int64", ndim=2))
            biases.append(decode_array(envelope.section(f"biases.{i + 1}"), dtype="int64", ndim=1))
        try:
            model = MlpModel.from_integers(pp, weights, biases)
        except ParameterError as error:
            raise CorruptPayloadError(f"model owner file holds an invalid model: {error}") from None
        if model.dims != tuple(dims):
            raise CorruptPayloadError(f"model owner file declares dims {dims}, its arrays have {model.dims}")
        generators = pp.generators()
        w_tables: list[np.ndarray] = []
        b_tables: list[np.ndarray] = []
        w_blinds: list[list[int]] = []
        b_blinds: list[list[int]] = []
        w_coms: list[Commitment] = []
        b_coms: list[Commitment] = []
        for i in range(depth):
            k, c = log2_ceil(dims[i]), log2_ceil(dims[i + 1])
            for kind, table, num_vars, tables, blind_lists, coms in (
                ("w", pad_matrix(model.weights[i], k, c), k + c, w_tables, w_blinds, w_coms),
                ("b", pad_matrix(model.biases[i][None, :], 0, c), c, b_tables, b_blinds, b_coms),
            ):
                count = 1 << (num_vars - column_vars(num_vars))
                blinds = _read_scalars(envelope.section(f"{kind}blinds.{i + 1}"), count, f"{kind}blinds.{i + 1}")
                commitment, _ = commit(table.tolist(), num_vars, _Given(blinds), generators)  # type: ignore[arg-type]
                tables.append(table)
                blind_lists.append(blinds)
                coms.append(commitment)
        public = ModelCommitment(tuple(dims), tuple(w_coms), tuple(b_coms))
        return pp, CommittedModel(model, public, tuple(w_tables), tuple(w_blinds), tuple(b_tables), tuple(b_blinds))
    except CorruptPayloadError:
        raise
    except (ValueError, TypeError, KeyError, OverflowError) as error:
        raise CorruptPayloadError(f"malformed model owner file: {error}") from None


class _Given:
    """A blind source that hands out recorded row blinds (to recompute a commitment)."""

    def __init__(self, values: list[int]) -> None:
        self._values = list(values)

    def scalars(self, count: int) -> list[int]:
        if count != len(self._values):
            raise CorruptPayloadError(f"expected {count} row blinds, the file has {len(self._values)}")
        return self._values


def _meta(pp: Params, dims: tuple[int, ...]) -> bytes:
    return encode_json({"dims": list(dims), "frac_bits": pp.frac_bits, "max_log_n": pp.max_log_n, "q_bits": pp.q_bits})


def _parse_meta(data: bytes, fingerprint: bytes) -> tuple[Params, list[int]]:
    pp, dims, _ = parse_meta(data, fingerprint, with_rows=False)
    return pp, dims


def _commitments(
    envelope: object, dims: list[int], weight_prefix: str, bias_prefix: str
) -> tuple[tuple[Commitment, ...], tuple[Commitment, ...]]:
    cols = [log2_ceil(d) for d in dims]
    weights: list[Commitment] = []
    biases: list[Commitment] = []
    for i in range(len(dims) - 1):
        for prefix, num_vars, target in (
            (weight_prefix, cols[i] + cols[i + 1], weights),
            (bias_prefix, cols[i + 1], biases),
        ):
            name = f"{prefix}{i + 1}"
            count = 1 << (num_vars - column_vars(num_vars))
            target.append(Commitment(num_vars, _read_points(envelope.section(name), count, name)))  # type: ignore[attr-defined]
    return tuple(weights), tuple(biases)

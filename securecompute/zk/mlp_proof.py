"""``MlpProof``: a whole-MLP inference proof, its strict byte encoding and a notebook view.

Bytes go through the package envelope under kind ``zk/mlp`` with the parameter digest as fingerprint and
these sections, in this order (l = 1..L; hidden layers h = 1..L-1)::

    meta        canonical JSON {"dims": [d_0, ..., d_L], "frac_bits": R, "max_log_n": L, "q_bits": Q, "rows": n}
    com.w.l, com.b.l      the model's weight and bias commitments (48-byte points, one per Hyrax row)
    com.x                 the input commitment
    com.z.l               each layer's pre-activation commitment
    com.a.h               each hidden activation commitment
    lin.l                 linear proof: 4 claim points, 2 points per sumcheck round (k_l rounds), the product
                          proof (3 points, 5 scalars), openings of Z, b, X, W (2 points, z_d, z_b, one
                          scalar per column each)
    relu.h                a complete zkReLU proof (its own envelope, parsed by ReluProof.from_bytes)

The parser validates ``meta`` first (1..16 layers, every dimension and the batch in 1..2**L, every padded
table within 2**L entries), derives every section's exact length from it before decoding anything, and
requires canonical scalars and canonical subgroup points (CorruptPayloadError otherwise).
"""

from __future__ import annotations

import html
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from securecompute.encoding import decode_json, encode_json, pack, unpack
from securecompute.errors import CorruptPayloadError, ParameterError
from securecompute.zk import group
from securecompute.zk.commit import Commitment, EvaluationProof, column_vars
from securecompute.zk.field import SCALAR_BYTES
from securecompute.zk.linear import LinearProof
from securecompute.zk.model import MAX_LAYERS, ModelCommitment, log2_ceil
from securecompute.zk.proof import ReluProof, _points, _read_points, _read_scalars, _scalars
from securecompute.zk.sigma import ProductProof
from securecompute.zk.sumcheck import ZkSumcheckProof

if TYPE_CHECKING:
    from securecompute.zk.params import Params

__all__ = ["KIND", "MlpProof", "header_sections", "parse_meta"]

KIND = "zk/mlp"
_META_KEYS = {"dims", "frac_bits", "max_log_n", "q_bits", "rows"}
_POINT = group.POINT_BYTES


@dataclass(frozen=True)
class MlpProof:
    """A non-interactive proof of ``logits = MLP(x)`` with every commitment it is about.

    Attributes:
        params_digest, q_bits, frac_bits, max_log_n: the parameters it was made under.
        rows: the batch size (public).
        model: the model owner's commitment (dimensions, ``W_l``, ``b_l``).
        input: commitment to the padded input ``X``.
        pre_activations: commitments to ``Z_1..Z_L`` (``Z_L`` are the logits, :attr:`output`).
        activations: commitments to the hidden ``A_1..A_{L-1}``.
        linear: one linear-layer proof per layer; relu: one zkReLU proof per hidden layer.
    """

    params_digest: bytes
    q_bits: int
    frac_bits: int
    max_log_n: int
    rows: int
    model: ModelCommitment
    input: Commitment
    pre_activations: tuple[Commitment, ...]
    activations: tuple[Commitment, ...]
    linear: tuple[LinearProof, ...]
    relu: tuple[ReluProof, ...]

    @property
    def output(self) -> Commitment:
        """The commitment to the logits ``Z_L`` (scale ``2**(2R)``)."""
        return self.pre_activations[-1]

    def shapes_consistent(self) -> bool:
        """Counts and table sizes agree with the dimensions and the batch (any proof object, parsed or not)."""
        dims = self.model.dims
        depth = len(dims) - 1
        if not 1 <= depth <= MAX_LAYERS or len(self.model.weights) != depth or len(self.model.biases) != depth:
            return False
        if len(self.pre_activations) != depth or len(self.activations) != depth - 1:
            return False
        if len(self.linear) != depth or len(self.relu) != depth - 1:
            return False
        a = log2_ceil(self.rows)
        cols = [log2_ceil(d) for d in dims]
        expected = [(self.input, a + cols[0])]
        for index in range(depth):
            expected += [
                (self.model.weights[index], cols[index] + cols[index + 1]),
                (self.model.biases[index], cols[index + 1]),
                (self.pre_activations[index], a + cols[index + 1]),
            ]
            if index < depth - 1:
                expected.append((self.activations[index], a + cols[index + 1]))
        return all(
            com.num_vars == num_vars
            and com.columns is None
            and len(com.rows) == 1 << (num_vars - column_vars(num_vars))
            for com, num_vars in expected
        )

    @property
    def size_bytes(self) -> int:
        return len(self.to_bytes())

    def to_bytes(self) -> bytes:
        """Serialise into the package envelope (see the module docstring)."""
        sections = header_sections(self)
        for index, commitment in enumerate(self.pre_activations):
            sections[f"com.z.{index + 1}"] = _points(list(commitment.rows))
        for index, commitment in enumerate(self.activations):
            sections[f"com.a.{index + 1}"] = _points(list(commitment.rows))
        for index, linear in enumerate(self.linear):
            sections[f"lin.{index + 1}"] = _linear_bytes(linear)
        for index, relu in enumerate(self.relu):
            sections[f"relu.{index + 1}"] = relu.to_bytes()
        return pack(KIND, sections, fingerprint=self.params_digest)

    @classmethod
    def from_bytes(cls, data: bytes) -> MlpProof:
        """Parse and check bytes from :meth:`to_bytes` (CorruptPayloadError for anything malformed)."""
        try:
            return _parse(data)
        except CorruptPayloadError:
            raise
        except (ValueError, TypeError, KeyError, OverflowError) as error:
            raise CorruptPayloadError(f"malformed zkMLP proof: {error}") from None

    def _repr_html_(self) -> str:
        """Parameters, dimensions and sizes (verify with :func:`securecompute.zk.verify_mlp` and pinned weights)."""
        rows = [
            ("relation", "logits = MLP(x): Z_l = A_(l-1) W_l + b_l, A_l = ReLU(rescale(Z_l))"),
            ("dimensions", " → ".join(str(d) for d in self.model.dims)),
            ("batch rows", str(self.rows)),
            ("Q, R (bits)", f"{self.q_bits}, {self.frac_bits}"),
            ("parameter digest", self.params_digest.hex()),
            ("proof bytes", f"{self.size_bytes:,}"),
            ("to verify", "verify_mlp(pp, proof, weight_commitments=<the owner's published commitment>)"),
        ]
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows
        )
        return f"<div><b>zkMLP inference proof</b> (not verified by this view)<table>{body}</table></div>"


def _linear_bytes(proof: LinearProof) -> bytes:
    product = proof.product
    parts = [
        _points(list(proof.claims)),
        _points([point for message in proof.sumcheck.rounds for point in message]),
        _points([product.alpha, product.beta, product.delta]) + _scalars(list(product.responses)),
    ]
    for opening in proof.openings:
        parts.append(
            _points([opening.delta, opening.beta])
            + _scalars([opening.blind_response, opening.value_response, *opening.response])
        )
    return b"".join(parts)


def _linear_size(rounds: int, opening_columns: list[int]) -> int:
    size = 4 * _POINT + 2 * rounds * _POINT + 3 * _POINT + 5 * SCALAR_BYTES
    return size + sum(2 * _POINT + (columns + 2) * SCALAR_BYTES for columns in opening_columns)


def _read_linear(data: bytes, rounds: int, opening_columns: list[int], name: str) -> LinearProof:
    if len(data) != _linear_size(rounds, opening_columns):
        raise CorruptPayloadError(
            f"section {name!r} has {len(data)} bytes, expected {_linear_size(rounds, opening_columns)}"
        )
    offset = 0

    def points(count: int) -> tuple[object, ...]:
        nonlocal offset
        chunk = data[offset : offset + count * _POINT]
        offset += count * _POINT
        return _read_points(chunk, count, name)

    def scalars(count: int) -> list[int]:
        nonlocal offset
        chunk = data[offset : offset + count * SCALAR_BYTES]
        offset += count * SCALAR_BYTES
        return _read_scalars(chunk, count, name)

    claims = points(4)
    round_points = points(2 * rounds)
    sumcheck = ZkSumcheckProof(tuple(tuple(round_points[i : i + 2]) for i in range(0, len(round_points), 2)))
    alpha, beta, delta = points(3)
    z1, z2, z3, z4, z5 = scalars(5)
    openings = []
    for columns in opening_columns:
        o_delta, o_beta = points(2)
        blind_response, value_response, *response = scalars(columns + 2)
        openings.append(EvaluationProof(o_delta, o_beta, tuple(response), blind_response, value_response))
    return LinearProof(
        (claims[0], claims[1], claims[2], claims[3]),
        sumcheck,
        ProductProof(alpha, beta, delta, (z1, z2, z3, z4, z5)),
        (openings[0], openings[1], openings[2], openings[3]),
    )


def parse_meta(data: bytes, fingerprint: bytes, *, with_rows: bool = True) -> tuple[Params, list[int], int]:
    """Validate the ``meta`` section of ``zk/mlp``, ``zk/train`` and model files: ``(pp, dims, rows)``.

    Checks the exact key set (``rows`` only ``with_rows``; 0 is returned without), int types, canonical JSON, the
    parameters and the fingerprint, 1..16 layers, every dimension and the batch in ``1..2**L``, and every padded
    table within ``2**L`` entries.
    """
    from securecompute.zk.params import Params

    keys = _META_KEYS if with_rows else _META_KEYS - {"rows"}
    meta = decode_json(data)
    if not isinstance(meta, dict) or set(meta) != keys:
        raise CorruptPayloadError(f"meta must have exactly the keys {sorted(keys)}")
    dims = meta["dims"]
    if any(type(meta[key]) is not int for key in keys - {"dims"}) or not (
        isinstance(dims, list) and all(type(d) is int for d in dims)
    ):
        raise CorruptPayloadError("meta has a value of the wrong type")
    if encode_json(meta) != data:
        raise CorruptPayloadError("meta is not in canonical JSON form")
    try:
        pp = Params.setup(meta["q_bits"], meta["frac_bits"], meta["max_log_n"])
    except ParameterError as error:
        raise CorruptPayloadError(f"meta holds invalid parameters: {error}") from None
    if fingerprint != pp.digest():
        raise CorruptPayloadError("fingerprint does not match the parameters in the meta")
    limit = 1 << pp.max_log_n
    rows = meta.get("rows", 1)
    if not 2 <= len(dims) <= MAX_LAYERS + 1 or not all(1 <= d <= limit for d in dims) or not 1 <= rows <= limit:
        raise CorruptPayloadError(f"meta declares dims {dims} and {rows} rows outside the bounds of 2**{pp.max_log_n}")
    a = log2_ceil(rows)
    cols = [log2_ceil(d) for d in dims]
    if any(a + c > pp.max_log_n for c in cols) or any(c + d > pp.max_log_n for c, d in itertools.pairwise(cols)):
        raise CorruptPayloadError(f"meta declares tables over 2**{pp.max_log_n} entries")
    return pp, dims, rows if with_rows else 0


def header_sections(proof: Any) -> dict[str, bytes]:
    """``meta``, ``com.w.l``, ``com.b.l`` and ``com.x`` of an ``MlpProof`` or a ``TrainStepProof``."""
    meta = {
        "dims": list(proof.model.dims),
        "frac_bits": proof.frac_bits,
        "max_log_n": proof.max_log_n,
        "q_bits": proof.q_bits,
        "rows": proof.rows,
    }
    sections: dict[str, bytes] = {"meta": encode_json(meta)}
    for index, (weight, bias) in enumerate(zip(proof.model.weights, proof.model.biases, strict=True)):
        sections[f"com.w.{index + 1}"] = _points(list(weight.rows))
        sections[f"com.b.{index + 1}"] = _points(list(bias.rows))
    sections["com.x"] = _points(list(proof.input.rows))
    return sections


def _parse(data: bytes) -> MlpProof:
    envelope = unpack(data, kind=KIND)
    pp, dims, rows = parse_meta(envelope.section("meta"), envelope.fingerprint)
    a = log2_ceil(rows)
    cols = [log2_ceil(d) for d in dims]
    depth = len(dims) - 1
    expected = ["meta"]
    expected += [name for i in range(1, depth + 1) for name in (f"com.w.{i}", f"com.b.{i}")]
    expected += ["com.x", *[f"com.z.{i}" for i in range(1, depth + 1)], *[f"com.a.{i}" for i in range(1, depth)]]
    expected += [f"lin.{i}" for i in range(1, depth + 1)] + [f"relu.{i}" for i in range(1, depth)]
    if list(envelope.sections) != expected:
        raise CorruptPayloadError(f"zkMLP proof sections are {list(envelope.sections)}, expected {expected}")

    def commitment(name: str, num_vars: int) -> Commitment:
        count = 1 << (num_vars - column_vars(num_vars))
        return Commitment(num_vars, _read_points(envelope.section(name), count, name))

    weights = tuple(commitment(f"com.w.{i + 1}", cols[i] + cols[i + 1]) for i in range(depth))
    biases = tuple(commitment(f"com.b.{i + 1}", cols[i + 1]) for i in range(depth))
    linear = []
    for i in range(depth):
        k, c = cols[i], cols[i + 1]
        opening_columns = [1 << column_vars(v) for v in (a + c, c, a + k, k + c)]
        linear.append(_read_linear(envelope.section(f"lin.{i + 1}"), k, opening_columns, f"lin.{i + 1}"))
    return MlpProof(
        params_digest=envelope.fingerprint,
        q_bits=pp.q_bits,
        frac_bits=pp.frac_bits,
        max_log_n=pp.max_log_n,
        rows=rows,
        model=ModelCommitment(tuple(dims), weights, biases),
        input=commitment("com.x", a + cols[0]),
        pre_activations=tuple(commitment(f"com.z.{i + 1}", a + cols[i + 1]) for i in range(depth)),
        activations=tuple(commitment(f"com.a.{i + 1}", a + cols[i + 1]) for i in range(depth - 1)),
        linear=tuple(linear),
        relu=tuple(ReluProof.from_bytes(envelope.section(f"relu.{i + 1}")) for i in range(depth - 1)),
    )

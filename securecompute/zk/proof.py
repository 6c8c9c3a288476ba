"""``ReluProof``: the zkReLU proof object, its byte encoding, JSON view and notebook display.

Bytes go through the package envelope (:mod:`securecompute.encoding`) under kind ``zk/relu`` with the
parameter digest as fingerprint and these sections, in this order::

    meta        canonical JSON {"backward": bool, "frac_bits": R, "max_log_n": L, "n": n, "q_bits": Q}, plus
                "instances": k (>= 2) for a stack of k instances (absent for one)
    com.z, com.a, com.bits[, com.grad_a, com.grad_z]     48-byte compressed G1 points, one per row
    claims      committed claims (points): c_u, S, Z'(r), Z(r)[, G'(r), G_A(r)], b(rho)
    sc1, sc2    committed sumcheck round values, 3 points per round
    prod        the two product proofs: alpha, beta, delta (points), then z1..z5 (scalars), each
    open.u, open.r, open.bits    delta, beta (points), z_d, z_b, then one response per column (scalars)

Scalars are 32-byte little-endian and must be canonical (< r); points must decode, lie in the
prime-order subgroup and be canonically encoded.  The parser derives every expected length from the
validated ``meta`` (n <= 2**L <= 2**24) and compares before decoding, so a hostile buffer cannot
make it allocate or loop beyond its own size.  Any deviation raises CorruptPayloadError.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from securecompute.encoding import decode_json, encode_json, pack, unpack
from securecompute.errors import CorruptPayloadError, ParameterError
from securecompute.zk import group
from securecompute.zk.commit import Commitment, EvaluationProof, column_vars
from securecompute.zk.field import SCALAR_BYTES, scalar_from_bytes, scalar_to_bytes
from securecompute.zk.sigma import ProductProof
from securecompute.zk.sumcheck import ZkSumcheckProof

__all__ = ["KIND", "ReluProof", "Shapes"]

KIND = "zk/relu"
_META_KEYS = {"backward", "frac_bits", "max_log_n", "n", "q_bits"}
_SUMCHECK_DEGREE = 3


@dataclass(frozen=True)
class Shapes:
    """Table shapes of a proof over k instances of n elements (k = 1: one ReLU).

    ``m`` element variables per instance, ``kappa = ceil(log2 k)`` instance variables (the highest), ``total = m +
    kappa``; the advice has ``bit_vars = total + tau + slot_vars`` variables.  Column variables are those of one
    instance, ``ceil(m / 2)`` and ``ceil((m + tau + slot_vars) / 2)``, so a stacked commitment is the instances'
    own commitments' rows one after the other, and the opening responses do not grow with k.  ``explicit`` is
    the column count to record in :class:`Commitment` (None for k = 1, the default ``ceil(num_vars / 2)``).
    """

    m: int
    kappa: int
    total: int
    bit_vars: int
    col_vars: int
    bit_col_vars: int

    @classmethod
    def of(cls, slot_vars: int, n: int, instances: int, backward: bool) -> Shapes:
        m = max(1, (n - 1).bit_length())
        kappa = (instances - 1).bit_length()
        bits_one = m + int(backward) + slot_vars
        return cls(m, kappa, m + kappa, bits_one + kappa, column_vars(m), column_vars(bits_one))

    def explicit(self, bits: bool) -> int | None:
        """The ``columns`` to record in a Commitment (None when it is the default)."""
        if self.kappa == 0:
            return None
        return self.bit_col_vars if bits else self.col_vars

    def table_shapes(self, backward: bool) -> dict[str, tuple[int, int]]:
        """``{name: (num_vars, col_vars)}`` of the committed tables, in commitment order."""
        element = (self.total, self.col_vars)
        shapes = {"z": element, "a": element, "bits": (self.bit_vars, self.bit_col_vars)}
        return shapes | ({"grad_a": element, "grad_z": element} if backward else {})


@dataclass(frozen=True)
class ReluProof:
    """A non-interactive zkReLU proof with the commitments it is about.

    Attributes:
        params_digest: :meth:`Params.digest` of the parameters it was made under (32 bytes).
        q_bits, frac_bits, max_log_n: those parameters, so a loader can rebuild them.
        n: number of elements (padded to ``2**m`` inside the proof, m >= 1).
        backward: whether the gradient relation ``G_Z = (1 - s) . rescale(G_A)`` is included.
        commitments: Hyrax commitments ``z``, ``a``, ``bits`` (and ``grad_a``, ``grad_z``), in this order.
        claim_u, claims_r, bits_at_rho: commitments to the claimed evaluations (see :mod:`securecompute.zk.relu`).
        forward_sumcheck, bits_sumcheck: the two sumchecks' committed round messages.
        forward_product, bits_product: the sigma proofs of each sumcheck's final product.
        openings: Hyrax evaluation proofs at u, r and rho against the committed claims.
    """

    params_digest: bytes
    q_bits: int
    frac_bits: int
    max_log_n: int
    n: int
    backward: bool
    commitments: Mapping[str, Commitment]
    claim_u: Any
    forward_sumcheck: ZkSumcheckProof
    claims_r: tuple[Any, ...]
    forward_product: ProductProof
    bits_sumcheck: ZkSumcheckProof
    bits_at_rho: Any
    bits_product: ProductProof
    openings: tuple[EvaluationProof, EvaluationProof, EvaluationProof]
    instances: int = 1

    def __repr__(self) -> str:
        """One line: the statement, the parameters and the commitments' sizes (not 30 KB of points)."""
        rows = ", ".join(f"{name}: {len(commitment.rows)} rows" for name, commitment in self.commitments.items())
        stacked = f", instances={self.instances}" if self.instances != 1 else ""
        return (
            f"ReluProof(n={self.n}{stacked}, backward={self.backward}, Q={self.q_bits}, R={self.frac_bits}, "
            f"max_log_n={self.max_log_n}, params digest {self.params_digest.hex()[:16]}..., commitments {{{rows}}})"
        )

    @property
    def shapes(self) -> Shapes:
        """The table shapes implied by Q, R, n, k and the backward flag."""
        from securecompute.zk.params import Params

        slot_vars = Params(self.q_bits, self.frac_bits, self.max_log_n).slot_vars
        return Shapes.of(slot_vars, self.n, self.instances, self.backward)

    def instance_commitments(self, index: int) -> dict[str, Commitment]:
        """The commitments of stacked instance ``index`` alone (its rows of every stacked commitment).

        For a stack they are exactly the commitments a one-instance proof of that instance would carry with
        the same blinds, so they can be compared with commitments from other proofs.

        Raises:
            ParameterError: ``index`` outside ``0..instances-1``.
        """
        if not isinstance(index, int) or not 0 <= index < self.instances:
            raise ParameterError(f"instance index must be in 0..{self.instances - 1}, got {index!r}")
        shapes = self.shapes
        result = {}
        for name, commitment in self.commitments.items():
            per_instance = len(commitment.rows) >> shapes.kappa
            rows = commitment.rows[index * per_instance : (index + 1) * per_instance]
            result[name] = Commitment(commitment.num_vars - shapes.kappa, rows)
        return result

    @property
    def size_bytes(self) -> int:
        """Length of :meth:`to_bytes` (commitments included)."""
        return len(self.to_bytes())

    @property
    def commitment_bytes(self) -> int:
        """Bytes of the commitments alone (48 per row)."""
        return sum(commitment.size_bytes for commitment in self.commitments.values())

    def to_bytes(self) -> bytes:
        """Serialise into the package envelope (see the module docstring for the layout)."""
        meta = {
            "backward": self.backward,
            "frac_bits": self.frac_bits,
            "max_log_n": self.max_log_n,
            "n": self.n,
            "q_bits": self.q_bits,
        }
        if self.instances != 1:
            meta["instances"] = self.instances
        sections: dict[str, bytes] = {"meta": encode_json(meta)}
        for name, commitment in self.commitments.items():
            sections[f"com.{name}"] = b"".join(group.encode_point(point) for point in commitment.rows)
        sections["claims"] = _points([self.claim_u, *self.claims_r, self.bits_at_rho])
        sections["sc1"] = _points([point for message in self.forward_sumcheck.rounds for point in message])
        sections["sc2"] = _points([point for message in self.bits_sumcheck.rounds for point in message])
        sections["prod"] = b"".join(
            _points([proof.alpha, proof.beta, proof.delta]) + _scalars(list(proof.responses))
            for proof in (self.forward_product, self.bits_product)
        )
        for name, opening in zip(("u", "r", "bits"), self.openings, strict=True):
            sections[f"open.{name}"] = _points([opening.delta, opening.beta]) + _scalars(
                [opening.blind_response, opening.value_response, *opening.response]
            )
        return pack(KIND, sections, fingerprint=self.params_digest)

    @classmethod
    def from_bytes(cls, data: bytes) -> ReluProof:
        """Parse and check bytes from :meth:`to_bytes`.

        Raises:
            CorruptPayloadError: anything malformed (envelope, kind, meta, lengths, scalars, points).
        """
        try:
            return _parse(data)
        except CorruptPayloadError:
            raise
        except (ValueError, TypeError, KeyError, OverflowError) as error:
            raise CorruptPayloadError(f"malformed zkReLU proof: {error}") from None

    def to_json(self) -> str:
        """A JSON view: parameters, shapes, points and scalars as hex (for display and diffing, not for loading)."""
        view = {
            "kind": KIND,
            "params_digest": self.params_digest.hex(),
            "q_bits": self.q_bits,
            "frac_bits": self.frac_bits,
            "max_log_n": self.max_log_n,
            "n": self.n,
            "instances": self.instances,
            "backward": self.backward,
            "commitments": {
                name: [group.encode_point(point).hex() for point in commitment.rows]
                for name, commitment in self.commitments.items()
            },
            "claim_u": _hex(self.claim_u),
            "claims_r": [_hex(point) for point in self.claims_r],
            "bits_at_rho": _hex(self.bits_at_rho),
            "forward_sumcheck": [[_hex(v) for v in message] for message in self.forward_sumcheck.rounds],
            "bits_sumcheck": [[_hex(v) for v in message] for message in self.bits_sumcheck.rounds],
            "products": [
                {
                    "alpha": _hex(proof.alpha),
                    "beta": _hex(proof.beta),
                    "delta": _hex(proof.delta),
                    "responses": [hex(v) for v in proof.responses],
                }
                for proof in (self.forward_product, self.bits_product)
            ],
            "openings": [
                {
                    "delta": _hex(o.delta),
                    "beta": _hex(o.beta),
                    "blind_response": hex(o.blind_response),
                    "value_response": hex(o.value_response),
                    "response": [hex(v) for v in o.response],
                }
                for o in self.openings
            ],
            "size_bytes": self.size_bytes,
        }
        return json.dumps(view, indent=1)

    def _repr_html_(self) -> str:
        """Parameters, sizes and a verify badge that says which parameters it verified against.

        The badge checks the proof under the parameters the proof itself names (the prover's choice) and
        against its own commitments; it says so, with the full digest.  To pin parameters or commitments
        call :func:`~securecompute.zk.verify_relu` with your own ``Params`` (and ``commitments=``).
        """
        from securecompute.zk.params import Params
        from securecompute.zk.relu import verify_relu

        try:
            pp = Params.setup(self.q_bits, self.frac_bits, self.max_log_n)
            valid = verify_relu(pp, self)
            digest = pp.digest().hex()
        except ParameterError:
            valid, digest = False, "(invalid parameters)"
        scope = (
            f"under the parameters the proof names (Q={self.q_bits}, R={self.frac_bits}, "
            f"max_log_n={self.max_log_n}, digest {digest[:16]}…), not pinned by you"
        )
        badge = (
            '<span style="background:#2e7d32;color:white;padding:2px 8px;border-radius:4px">verified</span>'
            if valid
            else '<span style="background:#c62828;color:white;padding:2px 8px;border-radius:4px">INVALID</span>'
        )
        rows = [
            ("relation", "A = ReLU(rescale(Z))" + (", G_Z = (1-s)·rescale(G_A)" if self.backward else "")),
            ("verify result", ("verified " if valid else "INVALID ") + scope),
            (
                "elements n",
                str(self.n) + (f" per instance, {self.instances} instances stacked" if self.instances > 1 else ""),
            ),
            ("Q, R (bits)", f"{self.q_bits}, {self.frac_bits}"),
            ("max_log_n", str(self.max_log_n)),
            ("parameter digest (full)", self.params_digest.hex()),
            ("proof bytes", f"{self.size_bytes:,}"),
            ("commitment bytes", f"{self.commitment_bytes:,}"),
            ("commitments", ", ".join(f"{k}: {len(c.rows)} rows" for k, c in self.commitments.items())),
            (
                "to pin",
                "verify_relu(Params.setup(q_bits, frac_bits, max_log_n), proof, commitments=...) with your own "
                "parameters and commitments; this badge does not",
            ),
        ]
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows
        )
        caption = html.escape(f"{'verified' if valid else 'INVALID'} {scope}")
        return f"<div><b>zkReLU proof</b> {badge} <small>{caption}</small><table>{body}</table></div>"


def _hex(point: Any) -> str:
    return group.encode_point(point).hex()


def _points(points: list[Any]) -> bytes:
    return b"".join(group.encode_point(point) for point in points)


def _scalars(values: list[int]) -> bytes:
    return b"".join(scalar_to_bytes(value) for value in values)


def _read_scalars(data: bytes, count: int, name: str) -> list[int]:
    if len(data) != count * SCALAR_BYTES:
        raise CorruptPayloadError(f"section {name!r} has {len(data)} bytes, expected {count * SCALAR_BYTES}")
    return [scalar_from_bytes(data[i : i + SCALAR_BYTES]) for i in range(0, len(data), SCALAR_BYTES)]


def _read_points(data: bytes, count: int, name: str) -> tuple[Any, ...]:
    size = group.POINT_BYTES
    if len(data) != count * size:
        raise CorruptPayloadError(f"section {name!r} has {len(data)} bytes, expected {count * size}")
    return tuple(group.decode_point(data[i : i + size]) for i in range(0, len(data), size))


def _parse(data: bytes) -> ReluProof:
    from securecompute.zk.params import Params

    envelope = unpack(data, kind=KIND)
    meta = decode_json(envelope.section("meta"))
    if not isinstance(meta, dict) or set(meta) not in (_META_KEYS, _META_KEYS | {"instances"}):
        raise CorruptPayloadError(f"zkReLU meta must have exactly the keys {sorted(_META_KEYS)} (and 'instances')")
    if not isinstance(meta["backward"], bool) or any(
        type(meta[key]) is not int for key in ("q_bits", "frac_bits", "max_log_n", "n", *meta.keys() & {"instances"})
    ):
        raise CorruptPayloadError("zkReLU meta has a value of the wrong type")
    instances = meta.get("instances", 1)
    if "instances" in meta and instances < 2:
        raise CorruptPayloadError(f"zkReLU meta 'instances' must be at least 2 when present, got {instances}")
    if encode_json(meta) != envelope.section("meta"):
        raise CorruptPayloadError("zkReLU meta is not in canonical JSON form")
    try:
        pp = Params.setup(meta["q_bits"], meta["frac_bits"], meta["max_log_n"])
    except ParameterError as error:
        raise CorruptPayloadError(f"zkReLU meta holds invalid parameters: {error}") from None
    if envelope.fingerprint != pp.digest():
        raise CorruptPayloadError("zkReLU proof fingerprint does not match the parameters in its meta")
    n, backward = meta["n"], meta["backward"]
    if not 1 <= n <= 1 << pp.max_log_n or not 1 <= instances <= 1 << pp.max_log_n:
        raise CorruptPayloadError(f"zkReLU proof declares n={n}, {instances} instances; expected 1..2**{pp.max_log_n}")
    layout = Shapes.of(pp.slot_vars, n, instances, backward)
    if layout.total > pp.max_log_n:
        raise CorruptPayloadError(f"zkReLU proof declares 2**{layout.total} stacked elements, over 2**{pp.max_log_n}")
    m, bit_vars = layout.total, layout.bit_vars
    shapes = layout.table_shapes(backward)
    expected = [
        "meta",
        *[f"com.{name}" for name in shapes],
        *["claims", "sc1", "sc2", "prod", "open.u", "open.r", "open.bits"],
    ]
    if list(envelope.sections) != expected:
        raise CorruptPayloadError(f"zkReLU proof sections are {list(envelope.sections)}, expected {expected}")
    commitments = {}
    for name, (num_vars, col_vars) in shapes.items():
        rows = 1 << (num_vars - col_vars)
        points = _read_points(envelope.section(f"com.{name}"), rows, f"com.{name}")
        commitments[name] = Commitment(num_vars, points, layout.explicit(name == "bits"))
    claim_count = 5 if backward else 3
    claims = _read_points(envelope.section("claims"), claim_count + 2, "claims")
    products = _read_products(envelope.section("prod"))
    openings = []
    points_size = 2 * group.POINT_BYTES
    for name, col_vars in (("u", layout.col_vars), ("r", layout.col_vars), ("bits", layout.bit_col_vars)):
        section = envelope.section(f"open.{name}")
        columns = 1 << col_vars
        if len(section) != points_size + (columns + 2) * SCALAR_BYTES:
            raise CorruptPayloadError(f"section 'open.{name}' has {len(section)} bytes for {columns} columns")
        delta, beta = _read_points(section[:points_size], 2, f"open.{name}")
        blind_response, value_response, *response = _read_scalars(section[points_size:], columns + 2, f"open.{name}")
        openings.append(EvaluationProof(delta, beta, tuple(response), blind_response, value_response))
    return ReluProof(
        params_digest=envelope.fingerprint,
        q_bits=pp.q_bits,
        frac_bits=pp.frac_bits,
        max_log_n=pp.max_log_n,
        n=n,
        backward=backward,
        commitments=commitments,
        claim_u=claims[0],
        forward_sumcheck=_read_sumcheck(envelope.section("sc1"), m, "sc1"),
        claims_r=tuple(claims[1:-1]),
        forward_product=products[0],
        bits_sumcheck=_read_sumcheck(envelope.section("sc2"), bit_vars, "sc2"),
        bits_at_rho=claims[-1],
        bits_product=products[1],
        openings=(openings[0], openings[1], openings[2]),
        instances=instances,
    )


def _read_sumcheck(data: bytes, rounds: int, name: str) -> ZkSumcheckProof:
    points = _read_points(data, rounds * _SUMCHECK_DEGREE, name)
    d = _SUMCHECK_DEGREE
    return ZkSumcheckProof(tuple(tuple(points[i : i + d]) for i in range(0, len(points), d)))


_PRODUCT_BYTES = 3 * group.POINT_BYTES + 5 * SCALAR_BYTES


def _read_products(data: bytes) -> tuple[ProductProof, ProductProof]:
    if len(data) != 2 * _PRODUCT_BYTES:
        raise CorruptPayloadError(f"section 'prod' has {len(data)} bytes, expected {2 * _PRODUCT_BYTES}")
    proofs = []
    for offset in (0, _PRODUCT_BYTES):
        alpha, beta, delta = _read_points(data[offset : offset + 3 * group.POINT_BYTES], 3, "prod")
        z1, z2, z3, z4, z5 = _read_scalars(data[offset + 3 * group.POINT_BYTES : offset + _PRODUCT_BYTES], 5, "prod")
        proofs.append(ProductProof(alpha, beta, delta, (z1, z2, z3, z4, z5)))
    return proofs[0], proofs[1]

"""``TrainStepProof``: the proof of one SGD step (:mod:`securecompute.zk.train`) and its strict byte encoding.

Envelope kind ``zk/train``, fingerprint ``pp.digest()``, sections in this order (l = 1..L, h = 1..L-1)::

    meta        canonical JSON {"dims": [...], "frac_bits", "max_log_n", "q_bits", "rows"}
    com.w.l, com.b.l, com.x, com.z.l, com.a.h, com.gz.l, com.ga.h, com.gw.l, com.u.l     row points
    fwd.l       forward linear proofs (layout of ``lin.l`` in ``zk/mlp``)
    bwd.l       G_(A_(l-1)) = G_(Z_l) W_l^T, for l = L..2 (listed in proof order)
    gw.l        G_(W_l) = A_(l-1)^T G_(Z_l), for l = L..1 (listed in proof order)
    relu.h      backward zkReLU proofs of the hidden layers
    rescale.l   backward zkReLU proofs of U_l = rescale(G_(W_l)) (with zero z and a)

The parser validates ``meta`` exactly as ``zk/mlp`` does, derives every section length before decoding, and parses
the nested zkReLU proofs with their own strict parser.  Anything malformed raises CorruptPayloadError.
"""

from __future__ import annotations

from dataclasses import dataclass

from securecompute.encoding import pack, unpack
from securecompute.errors import CorruptPayloadError
from securecompute.zk.commit import Commitment, column_vars
from securecompute.zk.linear import LinearProof
from securecompute.zk.mlp_proof import _linear_bytes, _read_linear, header_sections, parse_meta
from securecompute.zk.model import ModelCommitment, log2_ceil
from securecompute.zk.proof import ReluProof, _points, _read_points

__all__ = ["KIND", "TrainStepProof"]

KIND = "zk/train"


@dataclass(frozen=True)
class TrainStepProof:
    """Commitments of every tensor of one step and the proofs over them (see the module docstring)."""

    params_digest: bytes
    q_bits: int
    frac_bits: int
    max_log_n: int
    rows: int
    model: ModelCommitment
    input: Commitment
    pre_activations: tuple[Commitment, ...]
    activations: tuple[Commitment, ...]
    grad_outputs: tuple[Commitment, ...]
    """``G_(Z_l)``, l = 1..L (``G_(Z_L)`` is the prover's given output gradient)."""
    grad_inputs: tuple[Commitment, ...]
    """``G_(A_h)``, h = 1..L-1."""
    weight_grads: tuple[Commitment, ...]
    updates: tuple[Commitment, ...]
    forward: tuple[LinearProof, ...]
    backward: tuple[LinearProof, ...]
    """``G_(A_(l-1)) = G_(Z_l) W_l^T`` for l = L..2."""
    weight_gradient: tuple[LinearProof, ...]
    """``G_(W_l) = A_(l-1)^T G_(Z_l)`` for l = L..1."""
    relu: tuple[ReluProof, ...]
    rescale: tuple[ReluProof, ...]

    @property
    def updated_weights(self) -> tuple[Commitment, ...]:
        """``Com(W'_l) = Com(W_l) - Com(U_l)``, row by row: the commitments of the new weights."""
        return tuple(
            Commitment(w.num_vars, tuple(a - b for a, b in zip(w.rows, u.rows, strict=True)))
            for w, u in zip(self.model.weights, self.updates, strict=True)
        )

    def to_bytes(self) -> bytes:
        """Serialise into the package envelope (see the module docstring)."""
        sections = header_sections(self)
        for prefix, commitments in self._tensor_groups():
            for index, commitment in enumerate(commitments):
                sections[f"com.{prefix}.{index + 1}"] = _points(list(commitment.rows))
        for prefix, proofs in (("fwd", self.forward), ("bwd", self.backward), ("gw", self.weight_gradient)):
            for index, linear in enumerate(proofs):
                sections[f"{prefix}.{index + 1}"] = _linear_bytes(linear)
        for prefix, relus in (("relu", self.relu), ("rescale", self.rescale)):
            for index, relu in enumerate(relus):
                sections[f"{prefix}.{index + 1}"] = relu.to_bytes()
        return pack(KIND, sections, fingerprint=self.params_digest)

    def _tensor_groups(self) -> tuple[tuple[str, tuple[Commitment, ...]], ...]:
        return (
            ("z", self.pre_activations),
            ("a", self.activations),
            ("gz", self.grad_outputs),
            ("ga", self.grad_inputs),
            ("gw", self.weight_grads),
            ("u", self.updates),
        )

    @property
    def size_bytes(self) -> int:
        return len(self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> TrainStepProof:
        """Parse and check bytes from :meth:`to_bytes` (CorruptPayloadError for anything malformed)."""
        try:
            return _parse(data)
        except CorruptPayloadError:
            raise
        except (ValueError, TypeError, KeyError, OverflowError) as error:
            raise CorruptPayloadError(f"malformed zk training-step proof: {error}") from None


def _parse(data: bytes) -> TrainStepProof:
    envelope = unpack(data, kind=KIND)
    pp, dims, rows = parse_meta(envelope.section("meta"), envelope.fingerprint)
    depth = len(dims) - 1
    a = log2_ceil(rows)
    cols = [log2_ceil(d) for d in dims]
    if any(cols[i] + cols[i + 1] < 1 for i in range(depth)):
        raise CorruptPayloadError("zk training-step proof declares a single-entry weight table")
    layers, hidden = range(1, depth + 1), range(1, depth)
    groups = (("z", layers), ("a", hidden), ("gz", layers), ("ga", hidden), ("gw", layers), ("u", layers))
    expected = ["meta", *[name for i in layers for name in (f"com.w.{i}", f"com.b.{i}")], "com.x"]
    expected += [f"com.{prefix}.{i}" for prefix, indices in groups for i in indices]
    expected += [f"fwd.{i}" for i in layers] + [f"bwd.{i}" for i in hidden] + [f"gw.{i}" for i in layers]
    expected += [f"relu.{i}" for i in hidden] + [f"rescale.{i}" for i in layers]
    if list(envelope.sections) != expected:
        raise CorruptPayloadError(f"zk training-step proof sections are {list(envelope.sections)}, expected {expected}")

    def commitment(name: str, num_vars: int) -> Commitment:
        count = 1 << (num_vars - column_vars(num_vars))
        return Commitment(num_vars, _read_points(envelope.section(name), count, name))

    def tensors(prefix: str, indices: range, width: int) -> tuple[Commitment, ...]:
        return tuple(commitment(f"com.{prefix}.{i}", width + cols[i]) for i in indices)

    def weight_shaped(prefix: str) -> tuple[Commitment, ...]:
        return tuple(commitment(f"com.{prefix}.{i}", cols[i - 1] + cols[i]) for i in layers)

    def linear(name: str, k: int, opened: tuple[int, int, int, int]) -> LinearProof:
        return _read_linear(envelope.section(name), k, [1 << column_vars(v) for v in opened], name)

    # opening shapes (Z, b, X, W) of each family, in proof order
    forward = tuple(
        linear(f"fwd.{i}", cols[i - 1], (a + cols[i], cols[i], a + cols[i - 1], cols[i - 1] + cols[i])) for i in layers
    )
    backward_layers = list(reversed(range(2, depth + 1)))
    backward = tuple(
        linear(f"bwd.{n + 1}", cols[i], (a + cols[i - 1], cols[i - 1], a + cols[i], cols[i - 1] + cols[i]))
        for n, i in enumerate(backward_layers)
    )
    gradient = tuple(
        linear(f"gw.{n + 1}", a, (cols[i - 1] + cols[i], cols[i], a + cols[i - 1], a + cols[i]))
        for n, i in enumerate(reversed(range(1, depth + 1)))
    )
    return TrainStepProof(
        params_digest=envelope.fingerprint,
        q_bits=pp.q_bits,
        frac_bits=pp.frac_bits,
        max_log_n=pp.max_log_n,
        rows=rows,
        model=ModelCommitment(
            tuple(dims), weight_shaped("w"), tuple(commitment(f"com.b.{i}", cols[i]) for i in layers)
        ),
        input=commitment("com.x", a + cols[0]),
        pre_activations=tensors("z", layers, a),
        activations=tensors("a", hidden, a),
        grad_outputs=tensors("gz", layers, a),
        grad_inputs=tensors("ga", hidden, a),
        weight_grads=weight_shaped("gw"),
        updates=weight_shaped("u"),
        forward=forward,
        backward=backward,
        weight_gradient=gradient,
        relu=tuple(ReluProof.from_bytes(envelope.section(f"relu.{i}")) for i in hidden),
        rescale=tuple(ReluProof.from_bytes(envelope.section(f"rescale.{i}")) for i in layers),
    )

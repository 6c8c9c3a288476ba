"""FRAG search parameters: dimension, metric, norm bound, and the CKKS chain that fits them.

The encrypted path is one plaintext-ciphertext product level (depth 1), so a chain of three primes
suffices: ``(q0, q1, special)``.  Scores come out at scale ``2**scale_bits`` modulo the data prime
``q0``; CKKS wraps silently once ``|score| >= 2**(q0_bits - scale_bits - 1)``, so the chain is
chosen from the largest score the metric and the declared norm bound allow:

* ``cosine``: query and stored vectors are unit vectors, scores in [-1, 1];
* ``ip`` (inner product): ``|<q, x>| <= R**2`` for norms up to ``R = max_norm``;
* ``l2``: the party returns ``||x||**2 - 2 <q, x>`` in ``[-2 R**2, 3 R**2]``; the querier adds
  ``||q||**2`` after decryption to get squared distances.

Candidate chains, smallest first, all 128-bit secure by the HomomorphicEncryption.org table:
N = 4096 with (40, 29, 40) bits (|score| < 2**10, absolute error about 1e-5 for unit vectors)
and N = 8192 with (60, 40, 60) bits (|score| < 2**19).  A margin of 4x is kept below the wrap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from securecompute.encoding import decode_json, encode_json
from securecompute.errors import CorruptPayloadError, ParameterError
from securecompute.fhe.params import CKKSParameters

if TYPE_CHECKING:
    from securecompute.fhe.context import CKKSContext

__all__ = ["METRICS", "FragParameters", "Metric", "secret_context"]

Metric = Literal["cosine", "ip", "l2"]
METRICS: tuple[str, ...] = ("cosine", "ip", "l2")
MAX_DIM = 4096
_CHAINS: tuple[tuple[int, tuple[int, ...], int], ...] = (
    (4096, (40, 29, 40), 29),
    (8192, (60, 40, 60), 40),
)
_MARGIN = 4.0


@dataclass(frozen=True)
class FragParameters:
    """What a querier announces to every party: vector dimension, metric and norm bound.

    Attributes:
        dim: d, the length of every query and stored vector.
        metric: "cosine" (unit vectors, larger is closer), "ip" (larger is closer) or "l2"
            (squared Euclidean distance, smaller is closer).
        max_norm: R, the largest Euclidean norm of a query or stored vector ("ip", "l2"); 1.0 for cosine.
    """

    dim: int
    metric: Metric = "cosine"
    max_norm: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.dim, bool) or not isinstance(self.dim, int) or not 1 <= self.dim <= MAX_DIM:
            raise ParameterError(f"dim must be an int in 1..{MAX_DIM}, got {self.dim!r}")
        if self.metric not in METRICS:
            raise ParameterError(f"metric {self.metric!r} is not supported; accepted: {', '.join(METRICS)}")
        norm = self.max_norm
        if isinstance(norm, bool) or not isinstance(norm, (int, float)) or not 0 < norm < float("inf"):
            raise ParameterError(f"max_norm must be a finite number > 0, got {norm!r}")
        if self.metric == "cosine" and norm != 1.0:
            raise ParameterError(f"cosine search uses unit vectors: max_norm must be 1.0, got {norm!r}")
        if self.score_bound * _MARGIN >= 2.0 ** (_CHAINS[-1][1][0] - _CHAINS[-1][2] - 1):
            raise ParameterError(
                f"max_norm {norm} gives scores up to {self.score_bound:.3g}, beyond what the supported CKKS "
                f"chains hold; rescale the vectors so that their norms stay below "
                f"{(2.0**17 / _MARGIN) ** 0.5:.0f}"
            )

    @property
    def columns(self) -> int:
        """Query ciphertexts per query: d, plus one encrypting 1 for the ||x||^2 column under "l2"."""
        return self.dim + (1 if self.metric == "l2" else 0)

    @property
    def score_bound(self) -> float:
        """Largest |score| a party can return for vectors within ``max_norm``."""
        square = float(self.max_norm) ** 2
        return {"cosine": 1.0, "ip": square, "l2": 3.0 * square}[self.metric]

    @property
    def headroom(self) -> float:
        """|value| at which a score wraps modulo q0 in the chosen chain: 2**(q0_bits - scale_bits - 1)."""
        chain = self.ckks()
        return 2.0 ** (chain.coeff_modulus_bits[0] - chain.scale_bits - 1)

    @property
    def max_score_noise(self) -> float:
        """Largest score-noise sigma a party may add: ``score_bound + 8 sigma`` stays below half the headroom.

        Half, so that a reply under another key (values spread over the whole headroom) still fails
        the querier's bound check in most slots, however much noise a party declares.
        """
        return (self.headroom / 2.0 - self.score_bound) / 8.0

    @property
    def larger_is_closer(self) -> bool:
        """True for cosine and inner product, False for L2 distance."""
        return self.metric != "l2"

    def ckks(self) -> CKKSParameters:
        """The smallest candidate chain whose wrap-around lies 4x beyond :attr:`score_bound`."""
        for degree, bits, scale in _CHAINS:
            if self.score_bound * _MARGIN < 2.0 ** (bits[0] - scale - 1):
                return CKKSParameters(degree, bits, scale)
        raise AssertionError("unreachable: __post_init__ checked the bound")  # pragma: no cover

    def to_bytes(self) -> bytes:
        """Canonical JSON of the three fields."""
        return encode_json({"dim": self.dim, "metric": self.metric, "max_norm": float(self.max_norm)})

    @classmethod
    def from_bytes(cls, data: bytes) -> FragParameters:
        """Strict inverse of :meth:`to_bytes`.

        Raises:
            CorruptPayloadError: malformed JSON, unknown fields, or invalid values.
        """
        fields = decode_json(data, expect=dict)
        if set(fields) != {"dim", "metric", "max_norm"}:
            raise CorruptPayloadError(f"FRAG parameters carry fields {sorted(fields)}; expected dim, metric, max_norm")
        try:
            return cls(fields["dim"], fields["metric"], fields["max_norm"])
        except ParameterError as error:
            raise CorruptPayloadError(f"FRAG parameters are invalid: {error}") from None


def secret_context(params: CKKSParameters, backend: str) -> CKKSContext:
    """Fresh keys for ``params`` on the engine ``backend``, which must encrypt (a querier's or an owner's key).

    Raises:
        ParameterError: ``backend`` is unknown, or a simulation that does not encrypt (queries and
            uploads would travel in the clear).
    """
    from securecompute.fhe.context import CKKSContext

    context = CKKSContext.generate(params, backend=backend)
    if not context.holder.encrypts:
        raise ParameterError(f"backend {backend!r} does not encrypt; accepted: an encrypting engine such as 'seal'")
    return context

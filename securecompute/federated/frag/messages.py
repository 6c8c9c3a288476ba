"""The FRAG wire messages, each one package envelope (:mod:`securecompute.encoding`).

Every envelope carries the querier's context fingerprint, so a party or querier refuses a message
made under another key (``KeyMismatchError``) before touching a ciphertext.  Ciphertexts travel as
SEAL's own serialisation inside sections ``ct0``, ``ct1``...; metadata as canonical JSON in ``meta``;
handles as a uint64 array.  Kinds and their sections (Q = querier, P = party)::

    frag/setup           Q->P  params (FragParameters JSON), context (public-context envelope),
                               nonce (32 fresh bytes: the querier's half of the channel keys)
    frag/channel-open    P->Q  nonce (the party's 32 fresh bytes), frame (the setup reply sealed under
                               the new channel keys, SHA-256 of the setup message as associated data)
    frag/setup-reply     P->Q  meta {name, size, nlist} (inside frag/channel-open when authenticated)
    frag/query           Q->P  meta {query_id, mode: "scan"|"centroids"}, ct0..ct{c-1} (c = columns)
    frag/probe           Q->P  meta {query_id, lists: [int, ...]}
    frag/scores          P->Q  meta {query_id, what: "candidates"|"centroids", counts, seconds, noise}, handles, ct*
    frag/fetch           Q->P  meta {query_id}, handles
    frag/payloads        P->Q  meta {query_id, count}, item0..item{m-1}
    frag/error           P->Q  meta {error: class name, message}

Parsing is strict: unknown or missing fields, wrong types, counts that disagree with the sections,
and more than :data:`MAX_CIPHERTEXTS` ciphertexts raise ``CorruptPayloadError``.  The helpers
:func:`load_public_context` and :func:`check_score_values` serve both the federated and the
outsourced mode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from securecompute.encoding import Envelope, decode_array, decode_json, encode_array, encode_json, pack, unpack
from securecompute.errors import CorruptPayloadError, ProtocolError

__all__ = [
    "MAX_CIPHERTEXTS",
    "MAX_FETCH",
    "QUERY_ID_BYTES",
    "PartyFailedError",
    "ScoresMessage",
    "check_score_values",
    "ciphertext_sections",
    "error_message",
    "load_public_context",
    "parse_scores",
    "raise_if_error",
    "read_ciphertexts",
    "read_handles",
    "read_int_list",
    "read_meta",
    "read_query_id",
    "scores_message",
]

MAX_CIPHERTEXTS = 4096
"""Most ciphertexts one message may carry: 4096 query columns, or 4096 score batches (8.4M rows at N = 4096)."""
MAX_FETCH = 65536
"""Most handles one ``frag/fetch`` may name."""
QUERY_ID_BYTES = 16
PUBLIC_CONTEXT_KIND = "fhe/public-context"

SETUP = "frag/setup"
SETUP_REPLY = "frag/setup-reply"
CHANNEL_OPEN = "frag/channel-open"
QUERY = "frag/query"
PROBE = "frag/probe"
SCORES = "frag/scores"
FETCH = "frag/fetch"
PAYLOADS = "frag/payloads"
ERROR = "frag/error"


def ciphertext_sections(ciphertexts: Sequence[bytes]) -> dict[str, bytes]:
    """{"ct0": bytes, "ct1": ...} for a list of serialised ciphertexts."""
    return {f"ct{number}": data for number, data in enumerate(ciphertexts)}


def read_ciphertexts(envelope: Envelope, count: int) -> list[bytes]:
    """The ``count`` ciphertext sections ct0..ct{count-1}; CorruptPayloadError if any is missing or extra."""
    if not 0 <= count <= MAX_CIPHERTEXTS:
        raise CorruptPayloadError(f"{envelope.kind} declares {count} ciphertexts; accepted: 0..{MAX_CIPHERTEXTS}")
    names = [name for name in envelope.sections if name.startswith("ct")]
    if sorted(names) != sorted(f"ct{number}" for number in range(count)):
        raise CorruptPayloadError(f"{envelope.kind} should carry ciphertexts ct0..ct{count - 1}, has {len(names)}")
    return [envelope.sections[f"ct{number}"] for number in range(count)]


def read_meta(envelope: Envelope, fields: Mapping[str, type | tuple[type, ...]]) -> dict[str, Any]:
    """The ``meta`` JSON object, with exactly ``fields``, each of the given type(s).

    Raises:
        CorruptPayloadError: missing or extra fields, or a field of another type (bools are not ints).
    """
    meta: dict[str, Any] = decode_json(envelope.section("meta"), expect=dict)
    if set(meta) != set(fields):
        raise CorruptPayloadError(f"{envelope.kind} meta has fields {sorted(meta)}; expected {sorted(fields)}")
    for name, kind in fields.items():
        value = meta[name]
        accepted = kind if isinstance(kind, tuple) else (kind,)
        if (isinstance(value, bool) and bool not in accepted) or not isinstance(value, accepted):
            raise CorruptPayloadError(f"{envelope.kind} meta field {name!r} has type {type(value).__name__}")
    return meta


def read_query_id(meta: Mapping[str, Any]) -> bytes:
    """The 16-byte query id from its hex form in ``meta["query_id"]``."""
    text = meta["query_id"]
    try:
        query_id = bytes.fromhex(text)
    except ValueError:
        raise CorruptPayloadError(f"query_id {text[:40]!r} is not hex") from None
    if len(query_id) != QUERY_ID_BYTES:
        raise CorruptPayloadError(f"query_id has {len(query_id)} bytes; expected {QUERY_ID_BYTES}")
    return query_id


def read_handles(envelope: Envelope) -> np.ndarray:
    """The (m,) uint64 handles section."""
    return decode_array(envelope.section("handles"), dtype="uint64", ndim=1)


def read_int_list(values: object, what: str, upper: int) -> list[int]:
    """A JSON list of ints in 0..upper-1."""
    if not isinstance(values, list) or not all(
        isinstance(value, int) and not isinstance(value, bool) and 0 <= value < upper for value in values
    ):
        raise CorruptPayloadError(f"{what} must be a list of ints in 0..{upper - 1}")
    return list(values)


@dataclass(frozen=True)
class ScoresMessage:
    """A parsed ``frag/scores`` reply.

    Attributes:
        query_id: the query it answers.
        what: "candidates" (store rows, with handles) or "centroids" (IVF lists, slot = list id).
        counts: valid slots of each ciphertext.
        handles: (sum(counts),) uint64 for candidates, empty for centroids.
        ciphertexts: serialised ciphertexts, one per batch.
        seconds: compute time the party reports.
        noise: standard deviation of the noise the party says it added to each score (0: none).
    """

    query_id: bytes
    what: str
    counts: list[int]
    handles: np.ndarray
    ciphertexts: list[bytes]
    seconds: float
    noise: float = 0.0


def scores_message(
    fingerprint: bytes,
    query_id: bytes,
    what: str,
    counts: Sequence[int],
    handles: np.ndarray,
    ciphertexts: Sequence[bytes],
    seconds: float,
    noise: float = 0.0,
) -> bytes:
    """Serialise a ``frag/scores`` reply."""
    meta = {
        "query_id": query_id.hex(),
        "what": what,
        "counts": list(counts),
        "seconds": float(seconds),
        "noise": float(noise),
    }
    sections = {"meta": encode_json(meta), "handles": encode_array(handles.astype(np.uint64))}
    sections.update(ciphertext_sections(ciphertexts))
    return pack(SCORES, sections, fingerprint)


def parse_scores(data: bytes, fingerprint: bytes, slots: int, max_noise: float) -> ScoresMessage:
    """Parse and check a ``frag/scores`` reply made under ``fingerprint``.

    ``max_noise`` is the largest noise sigma a party may declare (``FragParameters.max_score_noise``):
    a larger one would widen the querier's garbage check until it passes anything.

    Raises:
        CorruptPayloadError: malformed, inconsistent counts and handles, a count above ``slots``,
            a declared noise above ``max_noise``.
        KeyMismatchError: made under another querier's fingerprint.
    """
    envelope = unpack(data, kind=SCORES, fingerprint=fingerprint)
    meta = read_meta(
        envelope, {"query_id": str, "what": str, "counts": list, "seconds": (int, float), "noise": (int, float)}
    )
    if meta["what"] not in ("candidates", "centroids"):
        raise CorruptPayloadError(f"scores of unknown kind {meta['what']!r}")
    counts = read_int_list(meta["counts"], "counts", slots + 1)
    handles = read_handles(envelope)
    expected = sum(counts) if meta["what"] == "candidates" else 0
    if len(handles) != expected:
        raise CorruptPayloadError(f"scores carry {len(handles)} handles for {expected} candidate slots")
    ciphertexts = read_ciphertexts(envelope, len(counts))
    if not 0 <= meta["noise"] <= max_noise:
        raise CorruptPayloadError(f"declared score noise {meta['noise']!r} is outside [0, {max_noise:.4g}]")
    seconds = max(0.0, float(meta["seconds"]))
    return ScoresMessage(read_query_id(meta), meta["what"], counts, handles, ciphertexts, seconds, float(meta["noise"]))


def load_public_context(context_bytes: bytes, fingerprint: bytes) -> Any:
    """The ``CKKSContext`` in a public-context envelope made under ``fingerprint``; never a secret one.

    Raises:
        ProtocolError: a ``fhe/secret-context`` envelope.
        CorruptPayloadError: a public envelope hiding a secret key (refused by the named engine's
            ``load_public``: on ``seal`` a TenSEAL context holding one, on ``cross`` an ``SCXS`` magic or
            secret key words after the public part), or malformed bytes.
        ParameterError: the envelope names an engine that is not registered.
        KeyMismatchError: the context's fingerprint is not ``fingerprint``.
    """
    from securecompute.errors import KeyMismatchError
    from securecompute.fhe import CKKSContext

    if unpack(context_bytes).kind != PUBLIC_CONTEXT_KIND:
        raise ProtocolError("the message carries a SECRET context; only a public one (no secret key) is accepted")
    context = CKKSContext.load(context_bytes)  # refuses a public envelope hiding a secret key
    if context.fingerprint != fingerprint:
        raise KeyMismatchError("the envelope's fingerprint differs from the public context it carries")
    return context


def check_score_values(values: np.ndarray, bound: float, who: str) -> None:
    """Refuse decrypted scores beyond ``bound``: what ciphertexts under another key, or altered ones, decrypt to.

    Raises:
        CorruptPayloadError: some |value| > bound.
    """
    if len(values) and float(np.abs(values).max()) > bound:
        raise CorruptPayloadError(
            f"{who}: decrypted scores reach {float(np.abs(values).max()):.3g}, beyond the bound {bound:.3g}: "
            "ciphertexts made under another key, or altered"
        )


def error_message(error: BaseException) -> bytes:
    """Serialise a refusal: the error's class name and message (no fingerprint: it may not be known)."""
    meta = {"error": type(error).__name__, "message": str(error)[:2000]}
    return pack(ERROR, {"meta": encode_json(meta)})


def raise_if_error(envelope: Envelope, party: str) -> None:
    """Re-raise a ``frag/error`` reply as the package error class it names (ProtocolError if unknown).

    Raises:
        SecureComputeError: the party's refusal, prefixed with its name.
    """
    if envelope.kind != ERROR:
        return
    from securecompute import errors

    meta = read_meta(envelope, {"error": str, "message": str})
    kind = getattr(errors, meta["error"], None) if meta["error"] in errors.__all__ else None
    if kind is None or kind in (errors.EinsumSyntaxError, errors.DepthExhaustedError):
        kind = errors.ProtocolError
    raise kind(f"party {party!r} refused: {meta['message']}")


class PartyFailedError(ProtocolError):
    """A party crashed, timed out or could not be reached; the querier flags its result partial."""

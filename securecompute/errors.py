"""One exception hierarchy for the whole package.

Every error that bad input, bad bytes or a broken protocol can cause is a :class:`SecureComputeError`
subclass whose message names the offending value and what would have been accepted.  Several
classes also derive from the matching built-in (``ValueError``, ``ImportError``) so that code written
against numpy-style conventions still catches them.

The CLI prints ``str(error)`` as one line, so messages never contain a newline; richer context
(the caret under a bad einsum character, say) is kept in attributes.
"""

from __future__ import annotations

__all__ = [
    "CorruptPayloadError",
    "DependencyMissingError",
    "DepthExhaustedError",
    "EinsumSyntaxError",
    "EngineMismatchError",
    "InsecureParametersError",
    "KeyMismatchError",
    "MissingKeyError",
    "NotAvailableError",
    "ParameterError",
    "ProofError",
    "ProtocolError",
    "SecureComputeError",
    "ShapeError",
    "TamperedMessageError",
]


class SecureComputeError(Exception):
    """Base class of every error raised on purpose by securecompute."""


class ParameterError(SecureComputeError, ValueError):
    """A parameter is out of range, of the wrong type, or inconsistent with another."""


class InsecureParametersError(ParameterError):
    """Cryptographic parameters fall below the security level that was asked for."""


class ShapeError(SecureComputeError, ValueError):
    """Array shapes do not agree (an einsum label with two sizes, a wrong vector length...)."""


class EinsumSyntaxError(SecureComputeError, ValueError):
    """An einsum subscript string is malformed.

    Attributes:
        expression: the subscript string as given.
        position: 0-based index of the offending character in ``expression``.
    """

    def __init__(self, message: str, expression: str, position: int) -> None:
        super().__init__(message)
        self.expression = expression
        self.position = position

    def pointer(self) -> str:
        """Return the expression with a caret under the offending character (two lines)."""
        return f"{self.expression}\n{' ' * self.position}^"


class DepthExhaustedError(SecureComputeError):
    """A computation needs more multiplicative levels than the ciphertext or context has left.

    Attributes:
        needed: levels the computation consumes.
        available: levels that remain.
    """

    def __init__(self, message: str, needed: int, available: int) -> None:
        super().__init__(message)
        self.needed = needed
        self.available = available


class KeyMismatchError(SecureComputeError):
    """Objects made under different keys or parameters were combined or loaded together."""


class EngineMismatchError(KeyMismatchError):
    """Bytes or objects of one CKKS engine (or its parameters) were given to another engine."""


class MissingKeyError(SecureComputeError):
    """An operation needs a key (secret, Galois, relinearisation) that this object does not hold."""


class CorruptPayloadError(SecureComputeError, ValueError):
    """Bytes from outside the process are malformed, truncated, of the wrong kind or version."""


class TamperedMessageError(CorruptPayloadError):
    """An authenticated message failed its integrity check (altered, replayed or misdirected)."""


class ProtocolError(SecureComputeError):
    """A party broke the message flow of a protocol (wrong order, wrong round, budget spent)."""


class ProofError(SecureComputeError):
    """A zero-knowledge proof failed to verify, or could not be produced for the given witness."""


class DependencyMissingError(SecureComputeError, ImportError):
    """An optional dependency (an extra such as ``[ray]`` or ``[jax]``) is not installed."""


class NotAvailableError(SecureComputeError):
    """A capability that has not landed yet was asked for."""

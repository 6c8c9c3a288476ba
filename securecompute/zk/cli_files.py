"""Files the zk CLI reads from the user: size-bounded before parsing, failures with exit status 2.

``verify`` distinguishes an invalid proof (exit 1) from a file it cannot use (exit 2); every zk command
reads proofs, commitments and model commitments through :func:`read_file`.
"""

from __future__ import annotations

from securecompute.errors import ParameterError

__all__ = ["MAX_FILE_BYTES", "UsageOrInputError", "read_file"]

MAX_FILE_BYTES = 16 << 20
"""Largest proof or commitments file read (16 MiB): the largest zkReLU proof the format allows (max_log_n = 24,
with the backward pass) is under 8 MiB and MLP proofs of the package's models are far smaller, so nothing valid
is refused, and ``verify /dev/zero`` stops at 16 MiB."""


class UsageOrInputError(ParameterError):
    """A verify flag or input file that cannot be used: exit status 2 (not 1, which means an invalid proof)."""

    exit_status = 2


def read_file(path: str, what: str) -> bytes:
    """At most :data:`MAX_FILE_BYTES` of ``path``, read before anything is parsed.

    Raises:
        UsageOrInputError: unreadable, or larger than :data:`MAX_FILE_BYTES` (the message names the file).
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise UsageOrInputError(f"cannot read {what} file {path!r}: {error.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise UsageOrInputError(
            f"{what} file {path!r} is larger than {MAX_FILE_BYTES:,} bytes, more than any securecompute proof or "
            "commitments file takes"
        )
    return data

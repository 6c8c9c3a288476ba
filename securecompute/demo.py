"""``securecompute demo``: a tour of every capability that exists, on small built-in data.

Each landed capability contributes a ``tour_step(report)`` that really runs (no canned numbers) and
adds rows, and figures where a picture says more.  Capabilities that have not landed are listed as
not yet available.  The tour prints a summary table and writes ``summary.json``, ``summary.md``
and ``index.html`` (with the figures) into the report folder.
"""

from __future__ import annotations

import datetime
import html
import importlib
import json
import logging
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from securecompute import __version__
from securecompute.capabilities import CAPABILITIES
from securecompute.errors import ParameterError, SecureComputeError, TamperedMessageError
from securecompute.plotting import check_output_directory

__all__ = ["TourReport", "TourRow", "run_tour"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TourRow:
    """One line of the summary: which capability, what was checked, the outcome and details."""

    capability: str
    check: str
    outcome: str
    detail: str = ""

    @property
    def failed(self) -> bool:
        """The check did not hold (a failure, a mismatch, or an attack that went undetected)."""
        return self.outcome.startswith(("FAILED", "MISMATCH", "NOT DETECTED"))

    @property
    def timed_out(self) -> bool:
        """The step ran out of its time bound and was stopped (shown in red, not counted as a failed check)."""
        return self.outcome.startswith("TIMED OUT")


@dataclass
class TourReport:
    """Rows and figures collected by the tour steps; ``directory`` is where files go."""

    directory: Path
    rows: list[TourRow] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)
    about: dict[str, str] = field(default_factory=dict)

    def add(self, capability: str, check: str, outcome: str, detail: str = "") -> None:
        """Append one summary row."""
        self.rows.append(TourRow(capability, check, outcome, detail))

    def figure_path(self, name: str, caption: str) -> Path:
        """Reserve ``name`` (a PNG file name) in the report folder with a caption; return its path."""
        self.figures.append((name, caption))
        return self.directory / name

    def table(self) -> str:
        """The rows as an aligned plain-text table."""
        header = ("capability", "check", "outcome", "detail")
        lines = [header] + [(r.capability, r.check, r.outcome, r.detail) for r in self.rows]
        widths = [max(len(line[i]) for line in lines) for i in range(3)]
        rendered = [
            "  ".join(cell.ljust(width) for cell, width in zip(line[:3], widths, strict=True)) + "  " + line[3]
            for line in lines
        ]
        rendered.insert(1, "-" * max(len(text) for text in rendered))
        return "\n".join(text.rstrip() for text in rendered)


def run_tour(directory: str | Path = "securecompute-report") -> TourReport:
    """Run every available capability's tour step and write the report files.

    Args:
        directory: folder for summary.json, summary.md, index.html and figures (created).

    Returns:
        the filled report.

    Raises:
        ParameterError: ``directory`` cannot be created or written (checked before any step runs).
    """
    report = TourReport(check_output_directory(directory, "report"))
    try:  # created now, before any step: a check by permissions cannot see every refusal (root, /proc, quotas)
        report.directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ParameterError(f"report folder {str(directory)!r} cannot be created: {error.strerror}") from None
    tour_started = time.perf_counter()
    report.about = _about()
    _foundation_step(report)
    for capability in CAPABILITIES:
        if capability.entry is None:
            report.add(capability.key, capability.title, "not yet available", f"issue #{capability.issue}")
            continue
        started = time.perf_counter()
        module = importlib.import_module(capability.entry)
        try:
            module.tour_step(report)
        except SecureComputeError as error:
            report.add(capability.key, capability.title, "FAILED", str(error))
        logger.info("tour step %s took %.1f s", capability.key, time.perf_counter() - started)
    report.about["tour"] = f"{time.perf_counter() - tour_started:.1f} s"
    _write_files(report)
    return report


def _about() -> dict[str, str]:
    """Version, date, machine and BLAS threads: what a reader needs to judge the timings."""
    from securecompute.blas import blas_threads, limited_blas_threads

    with limited_blas_threads():
        inside = blas_threads()
    return {
        "securecompute": __version__,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
        "python": f"{platform.python_version()}, numpy {np.__version__}",
        "BLAS threads": f"{blas_threads()} outside the kernels, {inside} inside (pinned by securecompute.blas)",
    }


def _links() -> list[tuple[str, str, str]]:
    """(capability, label, href) for each spec and notebook; file links when the repository is beside the package."""
    repository = Path(__file__).resolve().parents[1]
    found = [("foundation", path, path) for path in ("protocols/envelope.md", "protocols/channel.md")]
    for capability in CAPABILITIES:
        found += [(capability.key, path, path) for path in (*capability.specs, *capability.notebooks)]
    return [
        (key, label, (repository / path).as_uri() if (repository / path).exists() else path)
        for key, label, path in found
    ]


def _foundation_step(report: TourReport) -> None:
    """Show the shared wire format and channel doing their job on a small array."""
    from securecompute.channel import ChannelKey, open_channel
    from securecompute.encoding import decode_array, encode_array, pack, unpack

    values = np.arange(12, dtype=np.float64).reshape(3, 4) / 7.0
    payload = pack("demo/array", {"values": encode_array(values)})
    restored = decode_array(unpack(payload, kind="demo/array").section("values"))
    same = bool(np.array_equal(restored, values))
    report.add("foundation", "envelope round trip", "ok" if same else "MISMATCH", f"{len(payload)} bytes")
    flipped = bytearray(payload)
    flipped[len(flipped) // 2] ^= 0x01
    try:
        unpack(bytes(flipped))
        outcome = "NOT DETECTED"
    except SecureComputeError as error:
        outcome = f"rejected ({type(error).__name__})"
    report.add("foundation", "envelope with one flipped bit", outcome)

    alice, bob = ChannelKey.generate(), ChannelKey.generate()
    context = b"securecompute demo"
    to_bob = open_channel(alice, bob.public_bytes, role="initiator", context=context)
    from_alice = open_channel(bob, alice.public_bytes, role="responder", context=context)
    frame = to_bob.seal(payload)
    delivered = from_alice.open(frame) == payload
    report.add(
        "foundation",
        "authenticated channel",
        "ok" if delivered else "MISMATCH",
        f"X25519 + HKDF-SHA256 + AES-GCM, {len(frame) - len(payload)} bytes overhead",
    )
    forged = bytearray(to_bob.seal(payload))
    forged[-1] ^= 0x80
    try:
        from_alice.open(bytes(forged))
        outcome = "NOT DETECTED"
    except TamperedMessageError:
        outcome = "rejected (TamperedMessageError)"
    report.add("foundation", "channel frame with one flipped bit", outcome)


def _write_files(report: TourReport) -> None:
    directory = report.directory
    links = _links()
    (directory / "summary.json").write_text(
        json.dumps(
            {
                "about": report.about,
                "rows": [asdict(row) for row in report.rows],
                "figures": report.figures,
                "links": [{"capability": key, "path": label} for key, label, _ in links],
            },
            indent=2,
        )
    )
    markdown = [f"- {key}: {value}" for key, value in report.about.items()]
    markdown += ["", "| capability | check | outcome | detail |", "|---|---|---|---|"]
    markdown += [f"| {r.capability} | {r.check} | {r.outcome} | {r.detail} |" for r in report.rows]
    markdown += [f"\n![{caption}]({name})" for name, caption in report.figures]
    markdown += ["", "Specifications and notebooks:"] + [f"- {key}: [{label}]({href})" for key, label, href in links]
    (directory / "summary.md").write_text("\n".join(markdown) + "\n")
    (directory / "index.html").write_text(_html(report, links))


def _html(report: TourReport, links: list[tuple[str, str, str]]) -> str:
    escape = html.escape
    about = "".join(f"<dt>{escape(key)}</dt><dd>{escape(value)}</dd>" for key, value in report.about.items())
    cells = "".join(
        f"<tr class='{'bad' if r.failed or r.timed_out else 'ok'}'>"
        + "".join(f"<td>{escape(value)}</td>" for value in (r.capability, r.check, r.outcome, r.detail))
        + "</tr>"
        for r in report.rows
    )
    figures = "".join(
        f'<figure><img src="{escape(name)}" alt="{escape(caption)}"><figcaption>{escape(caption)}</figcaption></figure>'
        for name, caption in report.figures
    )
    items = "".join(
        f"<li>{escape(key)}: <a href='{escape(href)}'>{escape(label)}</a></li>" for key, label, href in links
    )
    return (
        "<!doctype html><meta charset='utf-8'><title>securecompute demo</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:1500px}td,th{border:1px solid #ccc;padding:4px 8px}"
        "table{border-collapse:collapse;font-size:14px}dl{display:grid;grid-template-columns:max-content auto;"
        "gap:2px 12px}dt{font-weight:bold}dd{margin:0}.bad td{background:#fdd}.ok td:nth-child(3){color:#060}"
        "figure{display:inline-block;vertical-align:top;margin:1em}img{max-width:620px}"
        "figcaption{max-width:620px;font-size:13px;color:#444}</style>"
        f"<h1>securecompute demo</h1><dl>{about}</dl>"
        "<table><tr><th>capability</th><th>check</th><th>outcome</th>"
        f"<th>detail</th></tr>{cells}</table><h2>Figures</h2>{figures}"
        f"<h2>Specifications and notebooks</h2><ul>{items}</ul>"
    )

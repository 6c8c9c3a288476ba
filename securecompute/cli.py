"""The ``securecompute`` command line: one entry point for every capability.

Each capability registers its own subcommands (``register_commands`` in its entry module, see
:mod:`securecompute.capabilities`); commands of capabilities that have not landed are listed and
answer with one line saying so.  Every error reaches the user as one line on standard error and a
non-zero exit status: 2 for a usage error, 1 for anything else (a command may name its own status
through an ``exit_status`` attribute on the error, as ``verify`` does); ``--debug`` shows the traceback.
The global flags ``--debug``, ``--quiet`` and ``--progress`` are accepted before or after the command.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from securecompute import __version__
from securecompute.capabilities import CAPABILITIES, Capability
from securecompute.errors import NotAvailableError, SecureComputeError
from securecompute.progress import set_progress

__all__ = ["build_parser", "main", "run"]

PROGRAM = "securecompute"


class UsageError(Exception):
    """Raised instead of argparse's exit so that usage errors stay one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    """Build the full argument parser with every capability's subcommands."""
    parser = _Parser(
        prog=PROGRAM,
        description="Privacy-preserving computation: encrypted einsum, "
        "HE kernels, federated encrypted search, robust federated learning, zkReLU proofs.",
    )
    parser.add_argument("--version", action="version", version=f"{PROGRAM} {__version__}")
    _add_global_flags(parser, default=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    commands.required = True

    demo = commands.add_parser("demo", help="tour every available capability on built-in data")
    demo.add_argument(
        "--out", default="securecompute-report", help="report folder, created if missing (default: %(default)s)"
    )
    demo.set_defaults(handler=_run_demo)

    for capability in CAPABILITIES:
        if capability.entry is not None:
            importlib.import_module(capability.entry).register_commands(commands)
        else:
            _register_unavailable(commands, capability)

    bench = commands.add_parser("bench", help="run a benchmark from benchmarks/ against its baseline")
    bench.add_argument("name", nargs="?", help="benchmark name (omit to list them)")
    bench.add_argument("--quick", action="store_true", help="a reduced run for smoke checks")
    bench.set_defaults(handler=_run_bench)
    _accept_global_flags_after_commands(parser)
    return parser


def _add_global_flags(parser: argparse.ArgumentParser, default: bool | str) -> None:
    """--debug, --quiet, --progress; subcommands get them with a suppressed default (no overwrite)."""
    parser.add_argument("--debug", action="store_true", default=default, help="show tracebacks and debug logging")
    bars = parser.add_mutually_exclusive_group()
    bars.add_argument("--quiet", action="store_true", default=default, help="never draw progress bars")
    bars.add_argument(
        "--progress", action="store_true", default=default, help="draw progress bars even when not on a terminal"
    )


def _accept_global_flags_after_commands(parser: argparse.ArgumentParser) -> None:
    """Give every (nested) subcommand the global flags, so ``securecompute frag --debug`` works too."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subcommand in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
                _add_global_flags(subcommand, default=argparse.SUPPRESS)
                _accept_global_flags_after_commands(subcommand)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in arguments
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        options, extras = build_parser().parse_known_args(arguments)
        if extras and not getattr(options, "ignores_arguments", False):
            raise UsageError(f"{PROGRAM}: unrecognized arguments: {' '.join(extras)}")
        if options.quiet and options.progress:
            raise UsageError(f"{PROGRAM}: --quiet and --progress exclude each other")
        if options.quiet or options.progress:
            set_progress(options.progress)
        return int(options.handler(options) or 0)
    except UsageError as error:
        print(f"{error} (see '{PROGRAM} --help')", file=sys.stderr)
        return 2
    except SecureComputeError as error:
        if debug:
            raise
        print(f"{PROGRAM}: error: {error}", file=sys.stderr)
        return int(getattr(error, "exit_status", 1))
    except KeyboardInterrupt:
        print(f"{PROGRAM}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # the last line of defence: still one line unless --debug
        if debug:
            raise
        print(f"{PROGRAM}: internal error: {type(error).__name__}: {error} (rerun with --debug)", file=sys.stderr)
        return 1


def run() -> NoReturn:
    """Console-script entry point."""
    sys.exit(main())


def _register_unavailable(commands: argparse._SubParsersAction[_Parser], capability: Capability) -> None:
    for name, help_text in capability.commands:
        parser = commands.add_parser(name, help=f"{help_text} (not yet available)")
        parser.set_defaults(handler=_unavailable(capability), ignores_arguments=True)


def _unavailable(capability: Capability) -> Callable[[argparse.Namespace], int]:
    def handler(options: argparse.Namespace) -> int:
        raise NotAvailableError(
            f"'{options.command}' belongs to {capability.title}, which has not landed yet (issue #{capability.issue})"
        )

    return handler


def _run_demo(options: argparse.Namespace) -> int:
    from securecompute.demo import run_tour
    from securecompute.plotting import check_output_directory

    check_output_directory(options.out, "demo --out")
    report = run_tour(options.out)
    print(report.table())
    print(f"\nreport written to {report.directory.resolve()}/index.html")
    return 1 if any(row.failed for row in report.rows) else 0


def _run_bench(options: argparse.Namespace) -> int:
    from securecompute.benchrunner import list_benchmarks, run_benchmark

    if options.name is None:
        for name, summary in list_benchmarks():
            print(f"{name:16s} {summary}")
        return 0
    return run_benchmark(options.name, quick=options.quick)

"""The `ferzoo` console command.

Each subcommand lives in `ferzoo/commands/<name>.py` and exposes `register(subparsers)`, which adds
its parser and sets `func` (a callable taking the parsed args and returning an exit code). Parsers
import nothing heavy; Keras and the backends load only when a command runs, so `ferzoo --version`
answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ferzoo import __version__

# Order here is the order in `ferzoo --help`.
COMMAND_MODULES = (
    "ferzoo.commands.models",  # ferzoo models [--profile]
    "ferzoo.commands.data",  # ferzoo data build / info / check
    "ferzoo.commands.train",  # ferzoo train / evaluate / cv / ablate
    "ferzoo.commands.predict",  # ferzoo predict / explain / export
    "ferzoo.commands.dashboard",  # ferzoo dashboard
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ferzoo",
        description="Facial expression recognition model zoo (Keras 3: TensorFlow, JAX, PyTorch).",
    )
    parser.add_argument("--version", action="version", version=f"ferzoo {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:  # a real missing dependency inside the module: say so
                raise
            continue  # command not part of this build
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    if args.command not in ("data", "dashboard", "env"):  # those never load Keras
        from ferzoo import backend

        backend.announce(getattr(args, "backend", None))
    from ferzoo.data.sources import DatasetNotReadyError

    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except DatasetNotReadyError as error:  # says what to download, build or run
        print(f"ferzoo: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""The `ferzoo` console command.

Each subcommand lives in `ferzoo/commands/<name>.py` and exposes `register(subparsers)`, which adds
its parser and sets `func` (a callable taking the parsed args and returning an exit code). Parsers
import nothing heavy; Keras and the backends load only when a command runs, so `ferzoo --version`
answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ferzoo import __version__
from ferzoo.runtime import backend, logs

# Order here is the order in `ferzoo --help`.
COMMAND_MODULES = (
    "ferzoo.commands.models",  # ferzoo models [--profile]
    "ferzoo.commands.data",  # ferzoo data build / info / check
    "ferzoo.commands.train",  # ferzoo train / evaluate
    "ferzoo.commands.experiments",  # ferzoo cv / ablate
    "ferzoo.commands.predict",  # ferzoo predict / explain / export
    "ferzoo.commands.sweep",  # ferzoo sweep (= python sweeps/run.py)
    "ferzoo.commands.dashboard",  # ferzoo dashboard
    "ferzoo.commands.env",  # ferzoo env
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ferzoo",
        description="Facial expression recognition model zoo (Keras 3: TensorFlow, JAX, PyTorch).",
    )
    parser.add_argument("--version", action="version", version=f"ferzoo {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show tracebacks and the backends' logs (FERZOO_DEBUG=1)",
    )
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


def user_error(err: BaseException) -> str | None:
    """The message to show for a user's mistake, or None for an error that is a bug."""
    from ferzoo.data import DatasetNotReadyError

    if isinstance(err, DatasetNotReadyError):
        return str(err).strip()  # the builder's download instructions follow the first line
    if isinstance(err, ValueError | OSError | ImportError):
        if isinstance(err, OSError) and err.filename and err.strerror:
            return f"{err.strerror}: {err.filename}"
        text = str(err).strip()
        return text.splitlines()[0] if text else type(err).__name__
    return None


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace, debug: bool) -> int:
    onnx = str(getattr(args, "model_path", "")).endswith(".onnx")  # ONNX Runtime, no Keras
    # `env --speed` starts its processes first and loads TensorFlow quietly beside them.
    speed = args.command == "env" and getattr(args, "speed", False)
    if not debug:
        logs.quiet_backends(load_tensorflow=not onnx and not speed)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    # data, dashboard and env never load Keras; a sweep says which backend after its checks.
    if args.command not in ("data", "dashboard", "env", "sweep") and not onnx:
        backend.announce(getattr(args, "backend", None))
    return int(args.func(args) or 0)


def _detach_stdout() -> None:
    """Point stdout at /dev/null, so that Python's flush at exit meets no closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    """Run a `ferzoo` command; a user's mistake is one line on stderr and exit code 2.

    Ctrl-C ends with one line and exit code 130; a closed pipe (`ferzoo models | head`) ends
    quietly with 141, as a shell reports a command stopped by SIGPIPE. `--debug` (or
    FERZOO_DEBUG=1) shows the traceback instead, and the backends' logs.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = args.debug or logs.debug_enabled()
    try:
        return _run(parser, args, debug)
    except KeyboardInterrupt:
        print("ferzoo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _detach_stdout()
        return 141
    except Exception as err:
        message = None if debug else user_error(err)
        if message is None:
            raise
        print(f"ferzoo: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

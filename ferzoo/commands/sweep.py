"""`ferzoo sweep`: the Optuna sweep (the same options as `python sweeps/run.py`).

    ferzoo sweep --study demo                      # synthetic faces, a few minutes on CPU
    ferzoo sweep --study kdef --manual-dir ~/fer   # KDEF, once its archive is there
    ferzoo sweep --study kdef --gpus 0,1,2,3       # one worker per GPU

The options, the studies and the exit codes are those of `ferzoo.sweep.cli`.
"""

from __future__ import annotations

import argparse

from ferzoo.sweep import cli


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="Optuna sweep over models on one dataset (= python sweeps/run.py)",
        description=cli.DESCRIPTION,
        epilog=cli.studies_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cli.add_arguments(p)
    p.set_defaults(func=cli.run)

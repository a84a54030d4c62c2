"""`ferzoo data`: build a dataset's TFDS files, show its classes, check a protocol for leakage.

    ferzoo data build jaffe --manual-dir ~/Downloads/jaffe
    ferzoo data build jaffe --manual-dir ~/Downloads/jaffe --detector haar --data-dir ~/tfds-haar
    ferzoo data info kdef
    ferzoo data check jaffe --protocol subject --num-folds 10

`ferzoo data build` does what `tfds build datasets/<name> --manual_dir ...` does, without the TFDS
command line's start-up imports (apache-beam, mlcroissant; see `pip install -e ".[tfds-cli]"`).
"""

from __future__ import annotations

import argparse

from ferzoo.commands.common import add_detector_arg


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="build, describe or check a dataset")
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("name", help="a dataset of ferzoo.datasets.BUILDER_NAMES[/config]")
        sub.add_argument("--data-dir", default=None, help="TFDS data dir (env FERZOO_DATA_DIR)")
        sub.add_argument("--manual-dir", default=None, help="folder holding your licensed copy")

    build = actions.add_parser("build", help="prepare the TFDS files from manual_dir")
    common(build)
    add_detector_arg(build)
    build.set_defaults(func=_build)

    info = actions.add_parser("info", help="class names and sizes")
    common(info)
    info.set_defaults(func=_info)

    check = actions.add_parser("check", help="subject overlap between the parts of every fold")
    common(check)
    check.add_argument("--protocol", choices=("paper", "subject"), default="subject")
    check.add_argument("--num-folds", type=int, default=10)
    check.add_argument("--seed", type=int, default=0)
    check.set_defaults(func=_check)


def _build(args: argparse.Namespace) -> int:
    from ferzoo.data.base import face_facts
    from ferzoo.data.preparation import prepared

    found = prepared(args.name, args.data_dir, args.manual_dir, add_copy=True,
                     detector=args.detector)  # fmt: skip
    facts = face_facts(found) or {}
    print(f"{args.name}: prepared in {found.data_dir}; faces by "
          f"{facts.get('detector', 'no detector')} ({facts.get('detector_version', '-')})")  # fmt: skip
    return 0


def _info(args: argparse.Namespace) -> int:
    from ferzoo import data

    found = data.info(args.name, data_dir=args.data_dir)
    print(f"{found.name}: {found.num_classes} classes: {', '.join(found.class_names)}")
    return 0


# What `ferzoo data check` passes on to `ferzoo.data.subjects`, under the same names.
_CHECK_ARGS = ("protocol", "num_folds", "seed", "data_dir", "manual_dir")


def _check(args: argparse.Namespace) -> int:
    """Print, per fold, the subjects in each part and any subject found in two parts."""
    from ferzoo import data

    leaks = 0
    folds = range(args.num_folds) if args.protocol == "subject" else range(1)
    for fold in folds:
        parts = data.subjects(args.name, fold=fold, **{a: getattr(args, a) for a in _CHECK_ARGS})
        shared = (
            (parts["train"] & parts["validation"])
            | (parts["train"] & parts["test"])
            | (parts["validation"] & parts["test"])
        )
        leaks += bool(shared)
        sizes = " ".join(f"{part}={len(ids)}" for part, ids in parts.items())
        verdict = f"LEAK: {sorted(shared)[:10]}" if shared else "no subject in two parts"
        print(f"fold {fold}: subjects {sizes}; {verdict}")
    if leaks and args.protocol == "subject":
        return 1
    return 0

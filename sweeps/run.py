"""Optuna sweep over the ferzoo design space on one dataset: `ferzoo sweep` (see
`ferzoo/commands/sweep.py`).

    python sweeps/run.py --study demo                      # synthetic faces, a few minutes on CPU
    python sweeps/run.py --study kdef --manual-dir ~/fer   # KDEF, once its archive is there
    python sweeps/run.py --study kdef --gpus 0,1,2,3       # one worker per GPU
    python sweeps/run.py --help                            # every option and study

The studies are in ferzoo/sweep/studies.py, the search spaces in ferzoo/sweep/space.py (one
place, shared with the KerasTuner HyperModel in sweeps/keras_tuner_model.py).
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from ferzoo.cli import main

    sys.exit(main(["sweep", *sys.argv[1:]]))

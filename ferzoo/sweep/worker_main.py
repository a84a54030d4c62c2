"""A worker process that `ferzoo sweep --workers N` (or `--gpus`) started
(`ferzoo.sweep.launcher`): it reads its settings, one JSON document on standard input
(`SweepSettings.to_json`, with its worker id), and runs trials on the study.

    python -m ferzoo.sweep.worker_main < settings.json
"""

from __future__ import annotations

import json
import os
import sys
from typing import TextIO

from ferzoo.sweep.config import SweepSettings


def main(stdin: TextIO | None = None) -> int:
    """Read the settings and run them as the sweep's worker; the exit code."""
    from ferzoo.sweep import session

    settings = SweepSettings.from_json(json.load(stdin or sys.stdin))
    here = os.environ.get("CUDA_VISIBLE_DEVICES")
    return session.main(settings.replace(cuda_visible_devices=here))


if __name__ == "__main__":
    sys.exit(main())

"""Print what `ferzoo.data.load` read, as JSON: per part, the example ids and a hash of the pixels.

    python scripts/data_fingerprint.py synthetic_faces --data-dir DIR --reader numpy

`scripts/test_no_tensorflow.sh` runs it with TensorFlow (reader tf.data) and without (reader
numpy, TFDS's data source on the ArrayRecord copy) and compares the two outputs: the same
examples, in the same order, with the same pixels.
"""

from __future__ import annotations

import argparse
import hashlib
import json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--reader", choices=("tf.data", "numpy"), required=True)
    parser.add_argument("--protocol", default="subject")
    parser.add_argument("--image-size", type=int, default=32)
    args = parser.parse_args(argv)

    from ferzoo import data
    from ferzoo.runtime import logs

    logs.quiet_backends()
    loaded = data.load(args.name, protocol=args.protocol, image_size=args.image_size,
                       data_dir=args.data_dir, reader=args.reader, pipeline="numpy")  # fmt: skip
    out = {
        part: {
            "ids": list(p.ids),
            "labels": p.labels.tolist(),
            "pixels_sha256": hashlib.sha256(p.images.tobytes()).hexdigest(),
        }
        for part, p in loaded.parts.items()
    }
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

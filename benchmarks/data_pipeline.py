"""Is the data pipeline ever what limits training? Prints its images/s beside resnet18's.

    KERAS_BACKEND=tensorflow python benchmarks/data_pipeline.py --dataset synthetic_faces \
        --image-size 64 --batch-size 32 --epochs 2

The pipeline figure is a full pass over the training part after its first (caching) epoch, with
augmentation on; the model figure is `model.fit` images/s on the same batches (the second epoch,
after compilation). The model is `ferzoo.build("resnet18")` once that is registered, else a
plain ResNet-18 built here. A benchmark, not a test: it prints, and asserts nothing.
"""

from __future__ import annotations

import argparse
import time

import keras


def _resnet18(input_shape, num_classes):
    """A plain ResNet-18 (He et al. 2016), used until ferzoo's registry provides one."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(64, 7, 2, padding="same", use_bias=False)(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    x = keras.layers.MaxPooling2D(3, 2, padding="same")(x)
    for stage, filters in enumerate((64, 128, 256, 512)):
        for block in range(2):
            stride = 2 if stage > 0 and block == 0 else 1
            shortcut = x
            y = keras.layers.Conv2D(filters, 3, stride, padding="same", use_bias=False)(x)
            y = keras.layers.ReLU()(keras.layers.BatchNormalization()(y))
            y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
            y = keras.layers.BatchNormalization()(y)
            if stride != 1 or shortcut.shape[-1] != filters:
                shortcut = keras.layers.Conv2D(filters, 1, stride, use_bias=False)(shortcut)
                shortcut = keras.layers.BatchNormalization()(shortcut)
            x = keras.layers.ReLU()(keras.layers.Add()([y, shortcut]))
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


def _model(input_shape, num_classes):
    try:
        import ferzoo

        return ferzoo.build("resnet18", num_classes=num_classes, input_shape=input_shape)
    except Exception:  # registry not there yet
        return _resnet18(input_shape, num_classes)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synthetic_faces")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--augment", type=float, default=0.5)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)

    from ferzoo import data

    loaded = data.load(
        args.dataset,
        image_size=args.image_size,
        batch_size=args.batch_size,
        augment=args.augment,
        data_dir=args.data_dir,
    )
    train = loaded["train"]
    n = loaded.sizes["train"]
    for _ in train:  # first pass fills the cache
        pass
    start = time.perf_counter()
    for _ in train:
        pass
    pipeline = n / (time.perf_counter() - start)

    model = _model((args.image_size, args.image_size, 3), loaded.num_classes)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    history = model.fit(train, epochs=args.epochs, callbacks=[Timer()], verbose=0)
    training = n / times[-1]
    print(
        f"{args.dataset} at {args.image_size}px, batch {args.batch_size}, backend "
        f"{keras.backend.backend()}: pipeline {pipeline:,.0f} images/s, resnet18 training "
        f"{training:,.0f} images/s ({pipeline / training:.1f}x); train accuracy by epoch "
        f"{[round(a, 3) for a in history.history['accuracy']]}"
    )


if __name__ == "__main__":
    main()

"""A KerasTuner HyperModel over the same search space as the Optuna sweeps (`ferzoo/sweep/space.py`).

    python sweeps/keras_tuner_model.py --dataset synthetic_faces --max-trials 4 --epochs 3

or, in Python:

    import keras_tuner
    from keras_tuner_model import FerHyperModel   # with sweeps/ on sys.path

    hypermodel = FerHyperModel(space="demo", dataset="synthetic_faces", image_size=48)
    tuner = keras_tuner.RandomSearch(hypermodel, objective="val_accuracy", max_trials=4,
                                     directory="results/keras_tuner", project_name="demo")
    tuner.search(epochs=3)            # data come from ferzoo.data.load (batch size, augment)
    best = tuner.get_best_models(1)[0]

`space.sample` walks the same parameter list for both tools; here each parameter becomes an
`hp.Choice` / `hp.Float` inside `hp.conditional_scope`s for its parents, so KerasTuner's
Hyperband and Bayesian oracles see the conditional structure. With `dataset=None` the tuner is
given arrays or datasets in `search(x, y, validation_data=...)`; the batch size is then applied
to arrays only and `augment` is not searched (it needs ferzoo's data).

KerasTuner itself runs on every Keras backend, but on TensorFlow it imports TensorBoard (a
dependency of ferzoo).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import keras
import keras_tuner

from ferzoo.sweep import space as search_space


class FerHyperModel(keras_tuner.HyperModel):
    """A `keras_tuner.HyperModel` building ferzoo models from `ferzoo.sweep.space`.

    Args:
        space: the search space's name ("full" or "demo").
        num_classes: classes of the dataset (ignored when `dataset` is given).
        image_size: side of the square inputs.
        dataset: a ferzoo dataset name; when given, `fit` loads it with the trial's batch size
            (`ferzoo.data.load`) and trains on its train part, validating on its validation
            part; the trial's augmentation is a `FaceAugment` layer in front of the model
            (identity at inference).
        protocol, fold, seed, data_dir, manual_dir: passed to `ferzoo.data.load`.
        fixed: parameters fixed instead of searched (e.g. `{"batch_size": 8}`).

    Example:
        >>> hm = FerHyperModel(space="demo", num_classes=7, image_size=32)  # doctest: +SKIP
        >>> tuner = keras_tuner.RandomSearch(hm, objective="val_accuracy", max_trials=2)
    """

    def __init__(
        self,
        space: str = "demo",
        *,
        num_classes: int = 7,
        image_size: int = 48,
        dataset: str | None = None,
        protocol: str = "subject",
        fold: int = 0,
        seed: int = 0,
        data_dir: str | None = None,
        manual_dir: str | None = None,
        fixed: dict[str, Any] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        search_space.get_space(space)  # a ValueError names the known spaces
        self.space = space
        self.image_size = image_size
        self.dataset = dataset
        self.protocol = protocol
        self.fold = fold
        self.seed = seed
        self.data_dir = data_dir
        self.manual_dir = manual_dir
        self.fixed = dict(fixed or {})
        self.num_classes = num_classes
        if dataset is not None:
            from ferzoo import data

            self.num_classes = data.info(dataset, data_dir=data_dir).num_classes

    def params(self, hp: keras_tuner.HyperParameters) -> dict[str, Any]:
        """The trial's values of the space's parameters (registering them with `hp`)."""
        exclude = () if self.dataset is not None else ("augment",)
        return search_space.sample(
            self.space, search_space.keras_tuner_choose(hp), self.fixed, exclude=exclude
        )

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        import ferzoo
        from ferzoo.evaluation.losses import loss_for

        model_name, overrides, train_kwargs = search_space.to_build(self.params(hp), self.space)
        model = ferzoo.build(
            model_name,
            num_classes=self.num_classes,
            input_shape=(self.image_size, self.image_size, 3),
            **overrides,
        )
        loss = loss_for(model)
        if self.dataset is not None and train_kwargs.get("augment", 0.0) > 0:
            model = self._augmented(model, float(train_kwargs["augment"]))
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=train_kwargs["learning_rate"]),
            loss=loss,
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
        return model

    def _augmented(self, net: keras.Model, strength: float) -> keras.Model:
        """`net` behind `FaceAugment(strength)`: the trial's augmentation in the training
        step, as `ferzoo.train` does it (the batches are never augmented); an identity at
        inference, so the tuner's best model predicts as `net` does."""
        from ferzoo.layers import FaceAugment

        inputs = keras.Input(net.inputs[0].shape[1:])
        x = FaceAugment(strength, seed=self.seed, name="face_augment")(inputs)
        return keras.Model(inputs, net(x), name=net.name)

    def fit(self, hp: keras_tuner.HyperParameters, model: keras.Model, *args, **kwargs):
        _, _, train_kwargs = search_space.to_build(self.params(hp), self.space)
        if self.dataset is not None:
            from ferzoo import data

            loaded = data.load(
                self.dataset,
                protocol=self.protocol,
                fold=self.fold,
                image_size=self.image_size,
                batch_size=train_kwargs["batch_size"],
                seed=self.seed,
                augment=train_kwargs["augment"],
                data_dir=self.data_dir,
                manual_dir=self.manual_dir,
            )
            kwargs.setdefault("validation_data", loaded["validation"])
            return model.fit(loaded["train"], *args, **kwargs)
        x = args[0] if args else kwargs.get("x")
        if hasattr(x, "shape"):  # arrays: the searched batch size applies
            kwargs["batch_size"] = train_kwargs["batch_size"]
        return model.fit(*args, **kwargs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synthetic_faces")
    parser.add_argument("--space", default="demo", choices=sorted(search_space.SPACES))
    parser.add_argument("--tuner", default="random", choices=("random", "hyperband"))
    parser.add_argument("--max-trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=48)
    parser.add_argument("--directory", default="results/keras_tuner")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--manual-dir", default=None)
    args = parser.parse_args(argv)
    hypermodel = FerHyperModel(
        args.space,
        dataset=args.dataset,
        image_size=args.image_size,
        data_dir=args.data_dir,
        manual_dir=args.manual_dir,
    )
    common = dict(
        objective="val_accuracy",
        directory=args.directory,
        project_name=f"{args.dataset.replace('/', '_')}-{args.space}",
        overwrite=False,
    )
    if args.tuner == "random":
        tuner = keras_tuner.RandomSearch(hypermodel, max_trials=args.max_trials, **common)
    else:
        tuner = keras_tuner.Hyperband(hypermodel, max_epochs=args.epochs, **common)
    tuner.search(epochs=args.epochs, verbose=0)
    tuner.results_summary(num_trials=3)
    return 0


if __name__ == "__main__":
    sys.exit(main())

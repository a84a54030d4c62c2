"""Evaluation: classification metrics (NumPy only), their files, and the plots of a run.

`classification_metrics(y_true, y_pred, class_names)` gives accuracy, per-class and macro
precision / recall / F1, and the confusion matrix; `evaluate_model(model, dataset, class_names)`
runs a model over a batched `(image, label)` dataset and returns the same dict; `write_metrics`
writes metrics.json, metrics.csv, confusion_matrix.csv and confusion_matrix.png; `plot_curves`
and `write_history` write curves.png and history.csv.

Example:

    import numpy as np
    from ferzoo.evaluation.evaluate import classification_metrics

    m = classification_metrics([0, 0, 1, 2], [0, 1, 1, 2], ["anger", "joy", "sad"])
    m["accuracy"]            # 0.75
    m["per_class"]["joy"]    # {"precision": 0.5, "recall": 1.0, "f1": 0.666..., "support": 1}

Reference:
    Macro averages are unweighted means over classes, as in the papers' ablation tables (MsC-wCA,
    Tables 2-5; WAMF, Tables 7-8). A class that is never predicted has precision 0 (and one
    absent from the labels has recall 0): the convention of scikit-learn's `zero_division=0`.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class) pairs.

    Args:
        y_true: integer class ids.
        y_pred: integer class ids, same length.
        num_classes: the number of classes; ids must lie in `[0, num_classes)`.

    Returns:
        int64 array `(num_classes, num_classes)`: rows are true classes, columns predictions.

    Example:
        >>> confusion_matrix([0, 1, 1], [0, 0, 1], 2).tolist()
        [[1, 0], [1, 1]]
    """
    y_true = np.asarray(y_true, np.int64).reshape(-1)
    y_pred = np.asarray(y_pred, np.int64).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            "y_true and y_pred must have the same length. "
            f"Received: len(y_true)={y_true.size}, len(y_pred)={y_pred.size}"
        )
    for name, ids in (("y_true", y_true), ("y_pred", y_pred)):
        if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
            raise ValueError(
                f"{name} holds class ids outside [0, {num_classes}). "
                f"Received: min={ids.min()}, max={ids.max()}"
            )
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, np.float64)
    den = np.asarray(den, np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def classification_metrics(
    y_true: Sequence[int], y_pred: Sequence[int], class_names: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, per-class and macro precision / recall / F1, and the confusion matrix.

    Args:
        y_true: integer class ids.
        y_pred: predicted class ids.
        class_names: one name per class, in id order.

    Returns:
        A JSON-ready dict: `accuracy`, `macro_precision`, `macro_recall`, `macro_f1`,
        `num_examples`, `class_names`, `per_class` (name -> precision, recall, f1, support) and
        `confusion_matrix` (list of rows; rows true, columns predicted).

    Example:
        >>> m = classification_metrics([0, 0, 1], [0, 1, 1], ["a", "b"])
        >>> round(m["macro_f1"], 4)
        0.6667
    """
    class_names = [str(n) for n in class_names]
    matrix = confusion_matrix(y_true, y_pred, len(class_names))
    tp = np.diag(matrix).astype(np.float64)
    precision = _safe_divide(tp, matrix.sum(axis=0))
    recall = _safe_divide(tp, matrix.sum(axis=1))
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    total = int(matrix.sum())
    return {
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "num_examples": total,
        "class_names": class_names,
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(matrix[i].sum()),
            }
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": matrix.tolist(),
    }


def check_num_classes(model: Any, class_names: Sequence[str]) -> None:
    """Raise a clear ValueError when the model's output size is not the dataset's class count."""
    outputs = int(model.outputs[0].shape[-1]) if getattr(model, "outputs", None) else None
    if outputs is not None and outputs != len(class_names):
        raise ValueError(
            f"The model outputs {outputs} classes but the dataset has {len(class_names)} "
            f"({', '.join(map(str, class_names))}). Evaluate a model on a dataset with the classes "
            f"it was trained on. Received: model output size={outputs}, "
            f"num_classes={len(class_names)}"
        )


def predict_dataset(model: Any, dataset: Iterable) -> tuple[np.ndarray, np.ndarray]:
    """Run `model` over a batched `(image, label)` dataset, each batch through the model's
    compiled predict function (`predict_on_batch`: traced once per model and batch shape, where
    a plain call would run op by op on TensorFlow and JAX).

    Returns:
        `(labels (N,), scores (N, num_classes))` as NumPy arrays.
    """
    labels, scores = [], []
    run = getattr(model, "predict_on_batch", None) or (lambda x: model(x, training=False))
    for images, batch_labels in dataset:
        out = run(images)
        scores.append(np.asarray(_to_numpy(out), np.float32))
        labels.append(np.asarray(_to_numpy(batch_labels)).reshape(-1))
    if not labels:
        raise ValueError("The dataset to evaluate is empty.")
    return np.concatenate(labels).astype(np.int64), np.concatenate(scores)


def _to_numpy(x: Any) -> np.ndarray:
    import keras

    return keras.ops.convert_to_numpy(x) if not isinstance(x, np.ndarray) else x


def evaluate_model(model: Any, dataset: Iterable, class_names: Sequence[str]) -> dict[str, Any]:
    """Classification metrics of `model` on a batched `(image, label)` dataset.

    Args:
        model: a Keras model whose output is `(batch, num_classes)` scores (softmax
            probabilities or capsule lengths: the argmax is the prediction either way).
        dataset: an iterable of `(images, labels)` batches (e.g. `LoadedData["test"]`).
        class_names: the dataset's class names; their count must equal the model's output size.

    Returns:
        The dict of `classification_metrics`.

    Raises:
        ValueError: when the model's output size differs from `len(class_names)`.
    """
    check_num_classes(model, class_names)
    labels, scores = predict_dataset(model, dataset)
    if scores.shape[-1] != len(class_names):  # a model with no symbolic outputs
        raise ValueError(
            f"The model outputs {scores.shape[-1]} classes but the dataset has "
            f"{len(class_names)}. Received: model output size={scores.shape[-1]}, "
            f"num_classes={len(class_names)}"
        )
    return classification_metrics(labels, scores.argmax(axis=-1), class_names)


def _atomic_write_text(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.replace(tmp, path)


def write_json(path: str, data: Any) -> None:
    """Write `data` as indented JSON, atomically (temp file then `os.replace`)."""
    _atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def _csv_text(rows: list[list[Any]]) -> str:
    import io

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def write_metrics(metrics: dict[str, Any], output_dir: str, title: str | None = None) -> list[str]:
    """Write metrics.json, metrics.csv, confusion_matrix.csv and confusion_matrix.png.

    metrics.csv has one row per class (precision, recall, f1, support), then `macro avg` and
    `accuracy` rows. confusion_matrix.csv has the class names as header and first column (rows
    true, columns predicted).

    Returns:
        The paths written.
    """
    os.makedirs(output_dir, exist_ok=True)
    names = metrics["class_names"]
    paths = [os.path.join(output_dir, n) for n in ("metrics.json", "metrics.csv")]
    write_json(paths[0], metrics)
    rows: list[list[Any]] = [["class", "precision", "recall", "f1", "support"]]
    for name in names:
        c = metrics["per_class"][name]
        rows.append(
            [name, f"{c['precision']:.6f}", f"{c['recall']:.6f}", f"{c['f1']:.6f}", c["support"]]
        )
    rows.append(
        [
            "macro avg",
            f"{metrics['macro_precision']:.6f}",
            f"{metrics['macro_recall']:.6f}",
            f"{metrics['macro_f1']:.6f}",
            metrics["num_examples"],
        ]
    )
    rows.append(["accuracy", "", "", f"{metrics['accuracy']:.6f}", metrics["num_examples"]])
    _atomic_write_text(paths[1], _csv_text(rows))
    cm_rows = [["true \\ predicted", *names]]
    cm_rows += [[name, *row] for name, row in zip(names, metrics["confusion_matrix"], strict=True)]
    cm_csv = os.path.join(output_dir, "confusion_matrix.csv")
    _atomic_write_text(cm_csv, _csv_text(cm_rows))
    cm_png = os.path.join(output_dir, "confusion_matrix.png")
    plot_confusion_matrix(metrics["confusion_matrix"], names, cm_png, title=title)
    return [*paths, cm_csv, cm_png]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; never open a window
    import matplotlib.pyplot as plt

    return plt


def plot_confusion_matrix(
    matrix: Sequence[Sequence[int]], class_names: Sequence[str], path: str, title: str | None = None
) -> None:
    """Save the confusion matrix as a PNG heat map with the counts written in the cells."""
    plt = _pyplot()
    matrix = np.asarray(matrix)
    n = len(class_names)
    size = max(4.0, 0.7 * n + 2.0)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    im = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(n), labels=class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), labels=class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = matrix.max() / 2.0 if matrix.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                str(int(matrix[i, j])),
                ha="center",
                va="center",
                color="white" if matrix[i, j] > threshold else "black",
            )
    ax.set_title(title or "Confusion matrix")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_curves(history: dict[str, list[float]], path: str, title: str | None = None) -> None:
    """Save accuracy and loss curves (train and validation) side by side as a PNG."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("accuracy", "loss"), strict=True):
        for prefix, label in (("", "train"), ("val_", "validation")):
            values = history.get(prefix + key)
            if values:
                ax.plot(range(1, len(values) + 1), values, marker=".", label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title or "Training curves")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_history_folds(histories: dict[int, dict[str, list[float]]], path: str) -> None:
    """Write several folds' histories as one CSV (`write_history`'s, after a `fold` column);
    one fold's is `write_history`'s own."""
    if len(histories) == 1:
        write_history(next(iter(histories.values())), path)
        return
    keys = list(dict.fromkeys(k for h in histories.values() for k in h))
    rows: list[list[Any]] = [["fold", "epoch", *keys]]
    for fold, history in histories.items():
        length = max((len(v) for v in history.values()), default=0)
        for i in range(length):
            cells = (history[k][i] if i < len(history.get(k, [])) else "" for k in keys)
            rows.append([fold, i + 1, *cells])
    _atomic_write_text(path, _csv_text(rows))


def write_history(history: dict[str, list[float]], path: str) -> None:
    """Write the per-epoch history as CSV: an `epoch` column (1-based), then one per key."""
    keys = list(history)
    length = max((len(v) for v in history.values()), default=0)
    rows: list[list[Any]] = [["epoch", *keys]]
    for i in range(length):
        rows.append([i + 1, *(history[k][i] if i < len(history[k]) else "" for k in keys)])
    _atomic_write_text(path, _csv_text(rows))

"""How fast ferzoo trains here, per backend: what `ferzoo env --speed` measures.

    python -m ferzoo.runtime.speed --backend jax --size 48 --batch 16 --seconds 1

Each backend runs in its own process (Keras fixes its backend when it is first imported):
resnet18 is built at `size` px for 7 classes and sped up and compiled as `ferzoo.train` does
(`performance.resolve`, TensorFlow's op determinism, `performance.optimize`, Adam and sparse
categorical cross-entropy with `performance.default_compile_kwargs`; the network's own step,
without the uint8 input, augmentation and metrics of `ferzoo.train`'s step model); one
`train_on_batch` on a fixed random batch compiles (its time is `compile_s`), then training
steps run until `seconds` are spent (at least 2); img/s is the batch over the median step. The
process prints one line, `ferzoo-speed {json}`.

`compare(backends)` runs one process per backend: they load, build and compile side by side,
then, once all have compiled, time their steps one at a time (each waits for a "go" line on
its standard input), so that no backend's steps share the cores with another's work. A process
that fails or runs out of time is one line, `failed: <the last line of its stderr>`, not a
traceback; Ctrl-C stops them all.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence

from ferzoo.runtime.devices import BACKENDS

READY = "ferzoo-speed-ready"
RESULT = "ferzoo-speed"
MODEL = "resnet18"
BATCH = 16
#: Seconds of timed steps per backend: 3 backends load, compile and time in about 30 s on 2 cores.
SECONDS = 1.0


def _prepare(size: int, batch: int):
    """resnet18 built, sped up and compiled as `ferzoo.train` does; a fixed random batch."""
    import keras
    import numpy as np

    import ferzoo
    from ferzoo.runtime import performance

    settings = performance.resolve()
    # ferzoo.train turns TensorFlow's op determinism on (ferzoo.training.report).
    performance.apply_runtime_settings(deterministic=settings["deterministic"])
    keras.utils.set_random_seed(0)
    model = ferzoo.build(MODEL, input_shape=(size, size, 3), num_classes=7)
    performance.optimize(model, settings)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        **performance.default_compile_kwargs(),
    )
    rng = np.random.default_rng(0)
    images = keras.ops.convert_to_tensor(rng.random((batch, size, size, 3), dtype=np.float32))
    labels = keras.ops.convert_to_tensor(rng.integers(0, 7, batch).astype("int32"))
    return model, images, labels


def measure(size: int = 48, batch: int = BATCH, seconds: float = SECONDS, wait=None) -> dict:
    """Time resnet18's training on the current Keras backend (see the module docstring).

    Args:
        size: image size in pixels.
        batch: images per step.
        seconds: time spent on the timed steps (at least 2 steps run).
        wait: called after the compiling step and before the timed ones (the parent's "go").

    Returns:
        `{"backend", "images_per_s", "step_s", "steps", "compile_s", "load_s", "size",
        "batch", "settings", "isa", "devices"}`: settings as `performance.in_effect` reads
        them from the model, the devices as `devices.backend_devices` lists them.
    """
    import keras

    from ferzoo.runtime import cpu, devices, performance

    started = time.perf_counter()
    model, images, labels = _prepare(size, batch)
    built = time.perf_counter()
    model.train_on_batch(images, labels)
    compile_s = time.perf_counter() - built
    if wait is not None:
        wait()
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < 2 or time.perf_counter() < deadline:
        step = time.perf_counter()
        model.train_on_batch(images, labels)
        times.append(time.perf_counter() - step)
    step_s = statistics.median(times)
    return {
        "backend": keras.backend.backend(),
        "images_per_s": batch / step_s,
        "step_s": step_s,
        "steps": len(times),
        "compile_s": compile_s,
        "load_s": built - started,
        "size": size,
        "batch": batch,
        "settings": performance.in_effect(model),
        "isa": cpu.processor()["effective_isa"],
        "devices": devices.backend_devices(keras.backend.backend()),
    }


def _wait_for_go() -> None:
    print(READY, flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("ferzoo-speed: stopped before the timed steps")


def main(argv: Sequence[str] | None = None) -> int:
    """Measure one backend in this process and print `ferzoo-speed {json}`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", required=True, choices=BACKENDS)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--wait", action="store_true", help="wait for 'go' before timing")
    args = parser.parse_args(argv)
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = args.backend
    from ferzoo.runtime import logs

    # Keras' torch backend imports torch._dynamo, which imports TensorFlow where installed.
    logs.quiet_backends(load_tensorflow=args.backend != "jax")
    import keras

    if keras.backend.backend() != args.backend:
        raise SystemExit(f"Keras runs {keras.backend.backend()} here, not {args.backend}")
    wait = _wait_for_go if args.wait else None
    record = measure(args.size, args.batch, args.seconds, wait)
    print(f"{RESULT} {json.dumps(record)}", flush=True)
    return 0


# --- the parent: one process per backend -----------------------------------------------------


class _Child:
    """One backend's process, its stdout read line by line on a thread, its stderr in a file."""

    def __init__(self, backend: str, command: list[str], env: Mapping[str, str]):
        self.backend = backend
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.proc = subprocess.Popen(
            command,
            env=dict(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)  # end of output: the process is exiting

    def until(self, prefix: str, deadline: float) -> str:
        """The first stdout line starting with `prefix`; RuntimeError on exit or timeout."""
        while True:
            left = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(left, 0.0))
            except queue.Empty:
                raise RuntimeError("timed out") from None
            if line is None:
                raise RuntimeError(self.last_error())
            if line.startswith(prefix):
                return line[len(prefix) :].strip()

    def last_error(self) -> str:
        self.proc.wait(timeout=10)
        self.stderr.seek(0)
        lines = [line.strip() for line in self.stderr.read().splitlines() if line.strip()]
        return lines[-1] if lines else f"exit code {self.proc.returncode}"

    def go(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def stop(self, kill: bool = False) -> None:
        """End the process (SIGTERM, or SIGKILL with `kill`) and close its stderr file."""
        if self.stderr.closed:
            return
        if self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()


class Comparison:
    """`measure` on several backends, each in its own process (see the module docstring).

    Args:
        backends: the backends to measure.
        size, batch, seconds: `measure`'s.
        environ: the processes' environment (None: `os.environ`); KERAS_BACKEND is set per
            process, and a CPU cap is `ferzoo.runtime.cpu.cap_environment`'s variables in it.
        timeout: seconds a process may take to load, build and compile.

    Example:
    ```python
    run = Comparison(["tensorflow", "jax", "torch"]).start()
    ...  # other work while they load and compile
    for r in run.finish():
        print(r["backend"], r.get("images_per_s") or r["error"])
    ```
    """

    def __init__(
        self,
        backends: Sequence[str],
        size: int = 48,
        batch: int = BATCH,
        seconds: float = SECONDS,
        environ: Mapping[str, str] | None = None,
        timeout: float = 120.0,
    ):
        self.backends = list(backends)
        self.size, self.batch, self.seconds, self.timeout = size, batch, seconds, timeout
        self.environ = dict(os.environ if environ is None else environ)
        self.children: list[_Child] = []

    def start(self) -> Comparison:
        """Start every backend's process; they load and compile side by side."""
        self.started = time.monotonic()
        for backend in self.backends:
            command = [sys.executable, "-m", "ferzoo.runtime.speed", "--backend", backend]
            command += ["--size", str(self.size), "--batch", str(self.batch)]
            command += ["--seconds", str(self.seconds), "--wait"]
            env = dict(self.environ, KERAS_BACKEND=backend)
            self.children.append(_Child(backend, command, env))
        return self

    def _ready(self, child: _Child) -> dict | None:
        """None once `child` has compiled and waits for its turn; else its failure record."""
        try:
            child.until(READY, self.started + self.timeout)
        except (RuntimeError, OSError) as err:
            return {"backend": child.backend, "error": str(err) or type(err).__name__}
        return None

    def _timed(self, child: _Child) -> dict:
        try:
            child.go()
            return json.loads(child.until(RESULT, time.monotonic() + self.seconds + 60.0))
        except (RuntimeError, OSError, ValueError) as err:
            return {"backend": child.backend, "error": str(err) or type(err).__name__}
        finally:
            # Ended before the next one's steps (killed: its result is in): TensorFlow's exit
            # kept a core busy for seconds and cost the next backend two thirds of its speed.
            child.stop(kill=True)

    def finish(self) -> list[dict]:
        """Wait until every process has compiled (or failed), then time each in turn, alone;
        one record per backend (`error` for a failed one)."""
        try:
            failed = [self._ready(child) for child in self.children]
            return [
                failure or self._timed(child)
                for child, failure in zip(self.children, failed, strict=True)
            ]
        finally:
            self.stop()

    def stop(self) -> None:
        """End every process still running (after `finish`, on Ctrl-C or an error)."""
        for child in self.children:
            child.stop()


def compare(backends: Sequence[str], **keywords) -> list[dict]:
    """`Comparison(backends, **keywords)` started and finished: one record per backend."""
    return Comparison(backends, **keywords).start().finish()


def fastest(records: Sequence[dict]) -> str | None:
    """The backend with the most images per second among the records that did not fail."""
    done = [r for r in records if "images_per_s" in r]
    return max(done, key=lambda r: r["images_per_s"])["backend"] if done else None


if __name__ == "__main__":
    sys.exit(main())

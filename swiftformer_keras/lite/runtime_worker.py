"""A TFLite runtime in its own process, timed on request: the other end of the runtime matrix.

    .venv-tflite-runtime/bin/python -m swiftformer_keras.lite.runtime_worker --threads 2

Reads one JSON request per line on stdin and answers one JSON line on stdout:

- `{"load": {"fp32": "xs_fp32.tflite", ...}}` -> `{"runtime": ..., "version": ...,
  "files": {"fp32": {"loaded": true, "partitions": 1, "error": null}, ...}}`:
  builds an interpreter per file (XNNPACK, `--threads`) and runs it `--warmup` times;
  a file the runtime refuses is `loaded: false` with the runtime's first error line.
- `{"time": "fp32", "runs": 10}` -> `{"ms": [...]}`: that many timed invokes.
- `{"predict": "fp32"}` -> `{"output": [...]}`: the file's output for that input,
  dequantized to float, flattened: to compare runtimes on the same file.
- `{"count": "fp32", "runs": 2}` -> `{"output": [...]}`: that many invokes, each between two
  marks (`mark`) that an instruction counter watching the process sees
  (`lite.arm_emulation`, under QEMU); then the output, as for predict. With `"blocks": true`
  the runs also lie between two `MARK_BLOCKS` marks (the counter writes where the instructions
  went) and the answer has `"maps"`, the process's mapped files (`/proc/self/maps`).

The parent (`conversion/runtime_matrix.py`) keeps one worker per runtime, each in
its own virtual environment, and asks them in turn, so that a shared machine's
drifts hit every runtime alike. Only numpy and one TFLite runtime are needed.
"""

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from swiftformer_keras.lite.interpreter import RUNTIMES, count_partitions, make_interpreter, runtime_version
from swiftformer_keras.utils import cli

PROG = "python -m swiftformer_keras.lite.runtime_worker"
# getpriority(PRIO_PROCESS, MARK_BASE + label): a syscall no runtime makes with such a process id, which
# arm64/count_instructions.c answers by recording its count (the same constant is there).
MARK_BASE = 0x7E5F0000
MARK_BEFORE, MARK_AFTER, MARK_BLOCKS = 0, 1, 2


def mark(label):
    """Marks this point of the process for an instruction counter (a harmless failing syscall)."""
    try:
        os.getpriority(os.PRIO_PROCESS, MARK_BASE + label)
    except OSError:  # no such process, as intended
        pass


def _sample(detail):
    """A fixed input for the file's input tensor (noise in its dtype's range)."""
    rng = np.random.default_rng(0)
    if np.issubdtype(detail["dtype"], np.integer):
        info = np.iinfo(detail["dtype"])
        return rng.integers(info.min, info.max, detail["shape"], dtype=detail["dtype"], endpoint=True)
    return rng.normal(size=detail["shape"]).astype(detail["dtype"])


def _first_line(error):
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]


class Worker:
    """The interpreters of one runtime over named files."""

    def __init__(self, runtime, threads, warmup):
        self.runtime, self.threads, self.warmup = runtime, threads, warmup
        self.interpreters = {}

    def load(self, files):
        name, version = runtime_version(self.runtime)
        answer = {"runtime": name, "version": version, "files": {}}
        for key, path in files.items():
            try:
                interpreter = make_interpreter(model_path=path, num_threads=self.threads, runtime=self.runtime)
                detail = interpreter.get_input_details()[0]
                interpreter.set_tensor(detail["index"], _sample(detail))
                for _ in range(self.warmup):
                    interpreter.invoke()
            except (ValueError, RuntimeError) as error:
                answer["files"][key] = {"loaded": False, "partitions": None, "error": _first_line(error)}
                continue
            self.interpreters[key] = interpreter
            answer["files"][key] = {"loaded": True, "partitions": count_partitions(interpreter)[0], "error": None}
        return answer

    def time(self, key, runs):
        invoke, times = self.interpreters[key].invoke, []
        for _ in range(runs):
            start = time.perf_counter()
            invoke()
            times.append((time.perf_counter() - start) * 1000)
        return {"ms": times}

    def predict(self, key, inputs=None):
        """`{"output": [...]}` for the input set last (the fixed one); with `inputs` (an `.npy` file of
        N inputs of the file's input shape and dtype), `{"outputs": [[...] per input]}`, the file's
        input left at the last of them."""
        interpreter = self.interpreters[key]
        if inputs is None:
            interpreter.invoke()
            return {"output": self._output(interpreter)}
        detail = interpreter.get_input_details()[0]
        batch = np.load(inputs, allow_pickle=False)  # numbers only: a pickle could run code
        if batch.dtype != detail["dtype"] or batch.shape[1:] != tuple(detail["shape"][1:]):
            raise ValueError(
                f"{inputs!r} holds {batch.dtype}{list(batch.shape)}; {key!r} takes N x "
                f"{list(detail['shape'][1:])} {np.dtype(detail['dtype']).name} inputs."
            )
        outputs = []
        for item in batch:
            interpreter.set_tensor(detail["index"], item[None])
            interpreter.invoke()
            outputs.append(self._output(interpreter))
        return {"outputs": outputs}

    @staticmethod
    def _output(interpreter):
        detail = interpreter.get_output_details()[0]
        output = interpreter.get_tensor(detail["index"]).astype(np.float64)
        scale, zero_point = detail["quantization"]
        if np.issubdtype(detail["dtype"], np.integer) and scale:
            output = (output - zero_point) * scale
        return output.ravel().tolist()

    def count(self, key, runs, blocks=False):
        invoke = self.interpreters[key].invoke
        if blocks:
            mark(MARK_BLOCKS)  # the counter forgets the blocks that ran before
        for _ in range(runs):
            mark(MARK_BEFORE)
            invoke()
            mark(MARK_AFTER)
        if not blocks:
            return self.predict(key)
        mark(MARK_BLOCKS)
        with open("/proc/self/maps") as file:
            maps = [line.rstrip("\n") for line in file if line.rstrip().endswith(".so") or ".so." in line]
        return {**self.predict(key), "maps": maps}

    def answer(self, request):
        if "load" in request:
            return self.load(request["load"])
        if "time" in request:
            return self.time(request["time"], int(request["runs"]))
        if "predict" in request:
            return self.predict(request["predict"], request.get("inputs"))
        if "count" in request:
            return self.count(request["count"], int(request["runs"]), bool(request.get("blocks")))
        raise ValueError(f"Unknown request {sorted(request)}; send load, time, predict or count.")


class RuntimeProcess:
    """A worker started with `python` (the Python of another environment), spoken to in JSON lines.

        worker = RuntimeProcess(".venv-tflite-runtime/bin/python", "tflite-runtime", threads=2)
        worker.ask({"load": {"fp32": "xs_fp32.tflite"}})
        worker.close()

    `cwd` must let that Python import this package (the project root, or an install).
    `python` may be a command (a list) that runs a Python, such as an emulator's
    (`lite.arm_emulation`), with `env` its environment.
    """

    def __init__(self, python, runtime=None, threads=2, cwd=None, env=None, warmup=None):
        python = [python] if isinstance(python, (str, os.PathLike)) else list(python)
        command = [*python, "-m", "swiftformer_keras.lite.runtime_worker", "--threads", str(threads)]
        if warmup is not None:
            command += ["--warmup", str(warmup)]
        if runtime:
            command += ["--runtime", runtime]
        # Its stderr goes to a file, read only if it stops: a pipe nobody reads could fill up and block it.
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115  (closed by close())
        self.process = subprocess.Popen(
            command, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True
        )

    def ask(self, request):
        """The worker's answer to `request`; RuntimeError if it failed or stopped (with its last error line)."""
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        except BrokenPipeError:  # it stopped before reading the request
            line = ""
        if not line:
            raise RuntimeError(f"The runtime worker stopped (exit code {self.process.wait()}){self._last_words()}")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"The runtime worker failed: {reply['error']}")
        return reply

    def _last_words(self):
        """`": <its last line on stderr>."`, start-up noise left out; `"."` if it printed nothing else."""
        self.stderr.seek(0)
        kept = cli.startup_lines_kept(self.stderr.read().decode("utf-8", "replace"))
        return f": {cli.one_line(kept[-1])[:300]}" if kept else "."

    def close(self):
        with contextlib.suppress(BrokenPipeError):  # it has stopped already
            self.process.stdin.close()
        self.process.wait(timeout=60)
        self.stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def main(argv=None):
    parser = cli.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runtime", choices=RUNTIMES, help="TFLite interpreter (default: the first installed)")
    parser.add_argument("--threads", type=cli.number(int, minimum=1), default=2)
    parser.add_argument("--warmup", type=cli.number(int, minimum=0), default=5)
    args = parser.parse_args(argv)
    worker = Worker(args.runtime, args.threads, args.warmup)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = worker.answer(json.loads(line))
        except Exception as error:  # noqa: BLE001  (the parent shows it; the worker stays up for the next request)
            reply = {"error": f"{type(error).__name__}: {_first_line(error)}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

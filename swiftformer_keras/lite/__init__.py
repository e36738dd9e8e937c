"""Keras model -> `.tflite` file, and what the file is: the TFLite (LiteRT) stage of the project.

In the order they build on each other:

- `interpreter`: the one interpreter factory (LiteRT, tflite-runtime or TensorFlow), timing, CPU name.
- `runtime_versions`: the oldest runtime a file loads on, from its op versions; the flatbuffer reader.
- `runtime_worker`, `kernel_profile`: a file timed or profiled (`perf`) in another environment's process.
- `arm_emulation`: a runtime on an emulated ARM64 core (QEMU, `make arm64`): outputs and exact instruction counts.
- `activation_ranges`: int8 calibration ranges measured again, without in-place tensors.
- `recipe`: how a file is written for the runtimes it must run on (`Recipe`), and what it is asked to be
  (`FileSpec`: mode, input and output types, oldest runtime), resolved once.
- `metadata`: what a file's TFLite metadata says (`model_info`), written and read back; labels files.
- `predictor`: a `.tflite` classifier run on batches, whatever its input and output types.
- `calibration`: real photos for calibration and fidelity checks.
- `request`: one conversion asked for (`ConversionRequest`), checked whole before any work.
- `rewrites`: the graph rewrites before conversion (output activation, folded norm, pixel input).
- `converter`: Keras -> `.tflite` bytes through a SavedModel, builtin ops only, checked; the int8 debugger.
- `report`, `card`: what a file holds (ops, partitions, delegates, clients) and its model card.
- `pipeline`: a SwiftFormer to a file, its card and its report in one call (under `swiftformer_keras.to_tflite`).
- `android_clients`: Android's own image clients (Task Library, MediaPipe) run on the host.
"""

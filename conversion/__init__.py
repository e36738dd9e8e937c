"""The command lines of the conversion stage: Keras -> .tflite, and the host benchmarks of the files."""

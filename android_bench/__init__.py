"""Benchmarks of SwiftFormer TFLite models on Android devices (adb + benchmark_model), on the host
(LiteRT Python interpreter) and beside the other ways to run SwiftFormer, in one table."""

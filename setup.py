"""swiftformer-keras: SwiftFormer in Keras 3, from PyTorch checkpoints to phones."""

from setuptools import find_packages, setup

setup(
    name="swiftformer-keras",
    version="0.1.0",
    description="SwiftFormer (ICCV 2023) in Keras 3 with the keras.applications API",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["swiftformer_keras", "swiftformer_keras.*"]),
    package_data={"swiftformer_keras": ["data/*.json"]},
    install_requires=[
        "keras>=3.8",
        "numpy>=1.26",
        "h5py>=3.10",
        "safetensors>=0.4",
        "tqdm>=4.60",
        "pillow>=10",
        "matplotlib>=3.7",
    ],
    extras_require={
        # Needed only for pre-1.6 (non-zip) PyTorch pickles; zip checkpoints
        # (every published SwiftFormer file) are read without torch.
        "torch": ["torch>=2.0"],
        "tensorflow": ["tensorflow>=2.16"],
        "litert": ["ai-edge-litert>=1.0"],
        # tflite-runtime 2.14, its last release, has wheels for Python <= 3.11 only and needs numpy 1.x.
        "tflite-runtime": ["tflite-runtime>=2.14; python_version < '3.12'", "numpy<2; python_version < '3.12'"],
        "jax": ["jax>=0.4.30"],
        # android_bench/compare.py: the PyTorch reference and ONNX Runtime beside our TFLite files.
        "bench": ["transformers>=4.40", "torch>=2.0", "onnxruntime>=1.18", "onnx>=1.16"],
        "dev": [
            "pytest>=8", "transformers>=4.40", "torch>=2.0", "tensorflow>=2.16", "jax>=0.4.30",
            "onnxruntime>=1.18", "onnx>=1.16",
        ],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Framework :: Keras",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)

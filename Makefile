# `make demo` runs the main job; `make test` runs the test suite. Each creates
# the virtual environment with the pinned dependencies on first use.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test clean runtimes arm64 npu docs

# Environments of other TFLite runtimes beside .venv, each from its pinned requirements file:
# .venv-tflite-runtime (tflite-runtime 2.14, needed by `make test`) and, for the cross-runtime
# benchmark (`make runtimes`), .venv-litert-1.4 and .venv-tf-2.16. tflite-runtime 2.14, its last
# release, has wheels for Python <= 3.11 only; the three share that Python so that their timings
# compare. Set TFLITE_RUNTIME_PYTHON to choose it; by default the first of these that runs.
TFLITE_RUNTIME_PYTHON ?=
RUNTIME_PYTHONS := python3.11 python3.10 python3.9
TFLITE_RUNTIME_VENV := .venv-tflite-runtime
RUNTIME_VENVS := $(TFLITE_RUNTIME_VENV) .venv-litert-1.4 .venv-tf-2.16
# MediaPipe Tasks, the other Android image client that `make test` runs our files in (the Task
# Library lives in .venv-tflite-runtime, as tflite-support needs numpy < 2 too).
MEDIAPIPE_VENV := .venv-mediapipe

# $(call runtime_venv,FOLDER,REQUIREMENTS,EXTRAS): FOLDER/.installed, or one line and no
# environment where no Python <= 3.11 runs (tests/conftest.py skips with the same line).
define runtime_venv
	@python="$(TFLITE_RUNTIME_PYTHON)"; \
	if [ -n "$$python" ]; then \
		$$python -c 'import sys; sys.exit(sys.version_info >= (3, 12))' || \
			{ echo "TFLITE_RUNTIME_PYTHON=$$python is not a Python <= 3.11, which tflite-runtime 2.14 needs" >&2; exit 1; }; \
	else \
		for candidate in $(RUNTIME_PYTHONS); do \
			if $$candidate -c 'import sys; sys.exit(sys.version_info >= (3, 12))' >/dev/null 2>&1; then \
				python=$$candidate; break; \
			fi; \
		done; \
	fi; \
	if [ -z "$$python" ]; then \
		echo "tflite-runtime 2.14 needs Python <= 3.11 and none of $(RUNTIME_PYTHONS) runs here: $(1) not created"; \
		exit 0; \
	fi; \
	set -e; \
	echo "$(1): $$python -m venv, pip install -r $(2) -e '.$(3)'"; \
	$$python -m venv $(1); \
	$(1)/bin/python -m pip install --quiet --upgrade pip; \
	$(1)/bin/python -m pip install --quiet -r $(2) -e '.$(3)'; \
	touch $(1)/.installed
endef

$(STAMP): requirements.txt requirements-executorch.txt pyproject.toml
	@# android_bench drives the real adb (Debian package); its tests need it, no phone.
	@command -v adb >/dev/null 2>&1 || apt-get install -y -q adb >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null && apt-get install -y -q adb >/dev/null; } || \
		echo "warning: could not install adb (sudo apt-get install adb); android_bench tests will fail"
	@# The benchmark's kernel profile samples XNNPACK with perf (Debian package linux-perf).
	@command -v perf >/dev/null 2>&1 || apt-get install -y -q linux-perf >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null && apt-get install -y -q linux-perf >/dev/null; } || \
		echo "warning: could not install perf (sudo apt-get install linux-perf); kernel profile tests will fail"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.txt -e .
	@# ExecuTorch for compare.py's routes: after torch==2.13.0, which it must not replace.
	$(PY) -m pip install --quiet -r requirements-executorch.txt
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

$(TFLITE_RUNTIME_VENV)/.installed: requirements-tflite-runtime.txt pyproject.toml
	$(call runtime_venv,$(TFLITE_RUNTIME_VENV),requirements-tflite-runtime.txt,[tflite-runtime])

.venv-litert-1.4/.installed: requirements-litert-1.4.txt pyproject.toml
	$(call runtime_venv,.venv-litert-1.4,requirements-litert-1.4.txt,)

.venv-tf-2.16/.installed: requirements-tf-2.16.txt pyproject.toml
	$(call runtime_venv,.venv-tf-2.16,requirements-tf-2.16.txt,)

$(MEDIAPIPE_VENV)/.installed: requirements-mediapipe.txt pyproject.toml
	$(call runtime_venv,$(MEDIAPIPE_VENV),requirements-mediapipe.txt,)

runtimes: $(addsuffix /.installed,$(RUNTIME_VENVS))

# timm's own SwiftFormer, for the tests of timm's hub weights: a folder of packages, not an environment, put on
# the path of tests/timm_reference/write_hub_file.py only (beside .venv's CPU torch, PyPI's torchvision does not import
# cleanly, and transformers in .venv imports torchvision wherever it finds one).
TIMM_PACKAGES := .timm
$(TIMM_PACKAGES)/.installed: requirements-timm.txt $(STAMP)
	rm -rf $(TIMM_PACKAGES)
	$(PY) -m pip install --quiet --no-deps --target $(TIMM_PACKAGES) -r requirements-timm.txt
	touch $@

# ARM64 under emulation (conversion/arm_cost.py, tests/lite/test_arm_emulation.py): QEMU user mode with
# plugins, an arm64 Python 3.11 from Debian's arm64 packages, LiteRT 2.3 and tflite-runtime 2.14 for
# aarch64, and the instruction counter built from arm64/count_instructions.c (arm64/build.sh).
ARM64 := .arm64
arm64: $(ARM64)/.installed

$(ARM64)/.installed: arm64/build.sh arm64/packages.txt arm64/requirements-litert.txt \
		arm64/requirements-tflite-runtime.txt arm64/count_instructions.c $(STAMP)
	sh arm64/build.sh $(ARM64) $(PY)

# NPU compiles (conversion/to_npu.py): onnxruntime-qnn (in requirements.txt) brings the x86_64 QNN libraries;
# the empty libQnnLpai.so that LiteRT's Qualcomm plugin links is built once with cc into ~/.cache (lite/npu.py).
npu: $(STAMP)
	$(PY) -c "from swiftformer_keras.lite import npu; print('QNN libraries:', npu.qnn_library_path()); print(npu.check_vendor('qualcomm'))"

# The documentation site (mkdocs.yml, docs/) into site/, strictly: a broken link or reference fails it. Offline.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

test: $(STAMP) $(TFLITE_RUNTIME_VENV)/.installed $(MEDIAPIPE_VENV)/.installed $(ARM64)/.installed $(TIMM_PACKAGES)/.installed
	$(PY) -m pytest

clean:
	rm -rf $(VENV) $(RUNTIME_VENVS) $(MEDIAPIPE_VENV) $(ARM64) $(TIMM_PACKAGES) site .pytest_cache *.egg-info

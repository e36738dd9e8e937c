# `make demo` runs the main job; `make test` runs the test suite. Each creates
# the virtual environment with the pinned dependencies on first use.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test clean

$(STAMP): requirements.txt setup.py
	@# android_bench drives the real adb (Debian package); its tests need it, no phone.
	@command -v adb >/dev/null 2>&1 || apt-get install -y -q adb >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null && apt-get install -y -q adb >/dev/null; } || \
		echo "warning: could not install adb (sudo apt-get install adb); android_bench tests will fail"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.txt -e .
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

test: $(STAMP)
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info

# One venv for running, testing and benchmarking. torch/torchvision are pinned here
# (not in pyproject) because these builds are the ones pip finds on our machines.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench screenshot clean

$(STAMP): pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# The window needs a desktop session; on a headless machine show the library instead.
run: $(STAMP)
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then $(VENV)/bin/photoorg gui; else \
	  echo "No desktop session here (DISPLAY is not set): the library's status instead of the window."; \
	  $(VENV)/bin/photoorg status; fi

test: $(STAMP)
	HF_HUB_OFFLINE=1 QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

# Lint, and the layers (ui -> cli -> Library -> engine -> db; no Qt below ui; no cycles).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	LINT_IMPORTS=$(abspath $(VENV))/bin/lint-imports bash .ci/lint-imports.sh

bench: $(STAMP)
	$(PY) -m pip install -q -e '.[dev,bench]'
	for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# The system libraries Qt's X11 plugin loads, which a bare Debian lacks.
QT_XCB_LIBS := libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 \
	libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0

# Screenshots of the real app on a real library (../shared/photos/coco-train-mini when
# present), on a virtual X screen; PNGs land in screenshots/.
screenshot: $(STAMP)
	dpkg -s xvfb xauth $(QT_XCB_LIBS) >/dev/null 2>&1 || \
	  (apt-get update -qq && apt-get install -y -qq xvfb xauth $(QT_XCB_LIBS))
	QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) -m photoorg.ui.screenshot screenshots

clean:
	rm -rf $(VENV) build dist *.egg-info

# The two commands of the README: `make demo` and `make test`. Each creates .venv when missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# CPU build of torch, pinned for dev/CI: an unpinned torch pulls a multi-GB CUDA build.
TORCH_PIN := torch==2.13.0

.PHONY: demo test bench bench-tracking bench-search bench-template bench-template-quick bench-overhead bench-tasks bench-tasks-per-step bench-streams bench-streams-lm bench-estimators install browser postgres clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Without build isolation, so that setup.py compiles the step loops (src/rnnlab/csrc) against
# the pinned torch; `make` rebuilds them when their source changes.
$(STAMP): $(BIN)/python pyproject.toml setup.py $(wildcard src/rnnlab/csrc/*.cpp)
	@command -v c++ >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >/dev/null; \
	  else echo "no C++ compiler and not root: install g++ to build rnnlab's step loops"; exit 1; fi; }
	$(BIN)/pip install --quiet "$(TORCH_PIN)" "setuptools>=77" numpy
	$(BIN)/pip install --quiet --no-build-isolation -e ".[datasets,dev,postgres]" "$(TORCH_PIN)"
	$(BIN)/python -c "from rnnlab.layers import native; assert native.library() and native.library().parent.name == '_lib', native.describe()"
	touch $(STAMP)

install: $(STAMP)

# Headless Chromium for the HTML-report browser test, from Debian's packages, when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing and not root: the browser test will be skipped"; fi; }

# Debian's PostgreSQL server for the search tests against a real database (tests/pg.py starts a
# throwaway cluster as the postgres user), when missing.
postgres:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "PostgreSQL missing and not root: the database tests will be skipped"; fi; }

demo: $(STAMP)
	$(BIN)/python examples/demo.py

# The suite on one pytest-xdist worker per CPU the process may use (affinity, cgroup quota:
# tests/conftest.py), each worker one torch thread; `worksteal` evens out the long end-to-end
# tests. One file alone, serially: `$(BIN)/python -m pytest tests/test_x.py` (or add -n auto).
test: $(STAMP) browser postgres
	$(BIN)/python -m pytest -n auto --dist worksteal

# Speed and memory of the layers against torch's modules; writes docs/benchmarks.md.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_layers.py

# Cost of rnnlab.Tracker relative to a training step.
bench-tracking: $(STAMP)
	$(BIN)/python benchmarks/bench_tracking.py

# rnnlab search with and without pruning, on 1 and 2 workers (docs/search.md has the figures).
bench-search: $(STAMP)
	$(BIN)/python benchmarks/bench_search.py

# The `rnnlab init` template with only the data set changed, 6 data sets x 3 seeds, 2 processes
# of 1 thread; writes docs/template.md (long: about an hour on 2 cores).
bench-template: $(STAMP)
	$(BIN)/python benchmarks/bench_template.py

# Per-step targets on the `rnnlab init --task per-step-*` templates (adding problem T = 200 and
# 400, denoising GunPoint at two noise levels, delayed_copy), 3 seeds, each against a baseline
# measured in the same run; appends to docs/tasks_per_step_runs.jsonl (long: hours on 2 cores).
bench-tasks-per-step: $(STAMP)
	$(BIN)/python benchmarks/bench_tasks_per_step.py

# Long streams (issue 22): forecasting (the template, seasonal naive, statsmodels' ETS) on aeon's
# series, horizon 1 and a seasonal horizon, 3 seeds; writes docs/streams.md's table (a quick
# run: `$(BIN)/python benchmarks/bench_streams.py --steps 200 --seeds 0`).
bench-streams: $(STAMP)
	$(BIN)/python benchmarks/bench_streams.py

# seed 0 on GunPoint and two generated sets (40 classes x 2 series; 10 x 3 of 1200 steps), beside MiniRocket
bench-template-quick: $(STAMP)
	$(BIN)/python benchmarks/bench_template.py --quick

# What a run costs besides its training (a tiny run against a bare PyTorch loop; recipe and search
# of tiny runs; training next to a busy process); writes docs/overhead.md. A part alone:
# `$(BIN)/python benchmarks/bench_overhead.py --part tiny` (tiny | many | busy).
bench-overhead: $(STAMP)
	$(BIN)/python benchmarks/bench_overhead.py

# Regression on the bundled Covid3Month and CardanoSentiment: the `rnnlab init --task regression`
# template (only the data set changed) against the training mean and aeon's MiniRocketRegressor,
# 3 seeds; writes docs/tasks.md's table (a quick run: `... bench_tasks.py --steps 500`); then the
# per-step part (bench-tasks-per-step, below).
bench-tasks: $(STAMP)
	$(BIN)/python benchmarks/bench_tasks.py
	$(BIN)/python benchmarks/bench_tasks_per_step.py

# RNNClassifier beside aeon's MiniRocket and 1-NN DTW through aeon's own fit/score, on
# bench-template's sets and seeds (docs/estimators.md).
bench-estimators: $(STAMP)
	$(BIN)/python benchmarks/bench_estimators.py --jobs 2

# Language models: the `rnnlab init --task language_model` template against a plain nn.LSTM
# character model of the same width and step budget, 3 seeds (a short run: `... --seeds 0 --steps 300`).
bench-streams-lm: $(STAMP)
	$(BIN)/python benchmarks/bench_streams_lm.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info src/rnnlab/_lib/*.so src/rnnlab/_lib/*.key

# The cookbook's commands. On a fresh machine `make report` and `make test` are all you type.
PYTHON     ?= python3
VENV       ?= .venv
BIN        := $(VENV)/bin
# torch and torchvision are installed first and pinned to the tested pair. Elsewhere, e.g. on
# macOS or with a GPU build, override: make install TORCH_SPEC="torch torchvision"
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
KERNEL     ?= tradeoff-cookbook
STAMP      := $(VENV)/.installed
REPORT_ARGS ?=
PYTEST_ARGS ?=
MODEL       ?=
BALANCE_ARGS ?= --quick

.PHONY: install report test unit lint lab bench balance student strip clean help

help:
	@echo "make report   run the whole notebook series headless into reports/ (installs first if needed)"
	@echo "make test     unit tests + every notebook under nbval (installs first if needed)"
	@echo "make unit     unit tests only (fast)"
	@echo "make lint     ruff on the package, the tests and the notebooks (part of make test)"
	@echo "make lab      open the notebooks in JupyterLab"
	@echo "make bench    measure the speedups of int8, pruning and low-rank side by side (reports/bench.json)"
	@echo "make balance MODEL=torchvision:resnet18 BALANCE_ARGS='--input-shape 3,224,224 --speedup 2'"
	@echo "              the trade-off report for your own model (reports/balance/<model>/index.html)"
	@echo "make install  create $(VENV), install the package (editable) with its dev extra, register a kernel"
	@echo "make student  student copies of the notebooks (solutions removed, checks kept) in student/"
	@echo "make strip    remove outputs from the notebooks before committing"

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	$(BIN)/python -m ipykernel install --user --name $(KERNEL) --display-name "Python (tradeoff cookbook)" >/dev/null
	touch $(STAMP)

report: install
	$(BIN)/python -m tradeoff_lib.report $(REPORT_ARGS)

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

unit: install
	$(BIN)/python -m pytest tests $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check tradeoff_lib tests conftest.py notebooks

bench: install
	$(BIN)/python -m tradeoff_lib.bench

balance: install
	@test -n "$(MODEL)" || { echo "usage: make balance MODEL=torchvision:resnet18 BALANCE_ARGS='--input-shape 3,224,224 --speedup 2'"; exit 2; }
	$(BIN)/python -m tradeoff_lib.balance $(MODEL) $(BALANCE_ARGS)

lab: install
	$(BIN)/jupyter lab notebooks/

student: install
	$(BIN)/python -m tradeoff_lib.student

strip: install
	$(BIN)/jupyter nbconvert --clear-output --inplace --log-level=WARN notebooks/[0-9][0-9]_*.ipynb

clean:
	rm -rf reports .reports.* student .pytest_cache

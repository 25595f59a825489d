# The two quick-start commands (README): `make study` and `make test`. Both install first.
VENV ?= .venv
PYTHON ?= python3
CORES ?= 2
ACTIVATE = . $(VENV)/bin/activate &&

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -r requirements.txt
	touch $@

.PHONY: install study quick test lint
install: $(VENV)/.installed

study: install        ## the embedded default study (config/config.yaml)
	$(ACTIVATE) snakemake --cores $(CORES)

quick: install        ## the same DAG at toy scale (config/quick.yaml)
	$(ACTIVATE) snakemake --cores $(CORES) --configfile config/quick.yaml

test: install         ## unit tests, lint, dry runs and an end-to-end run of a tiny study
	$(ACTIVATE) pytest -q -rs tests

lint: install
	$(ACTIVATE) snakemake --lint

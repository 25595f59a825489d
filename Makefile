# The two quick-start commands (README): `make study` and `make test`. Both install first.
VENV ?= .venv
PYTHON ?= python3
CORES ?= 2
ACTIVATE = . $(VENV)/bin/activate &&

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -r requirements.txt
	touch $@

.PHONY: install study quick test test-unit lint
install: $(VENV)/.installed

study: install        ## the embedded default study (config/config.yaml)
	$(ACTIVATE) snakemake --cores $(CORES)

quick: install        ## the same DAG at toy scale (config/quick.yaml)
	$(ACTIVATE) snakemake --cores $(CORES) --configfile config/quick.yaml

# Two tiers (tests/README.md): the unit tier (lint, dry runs, schema, scripts, teachers; no study run and
# no NequIP training) fails in minutes; the end-to-end tier (real tiny studies, NequIP training, SLURM)
# runs only after the unit tier has passed: make stops at the first command that fails.
# Each tier runs on $(CORES) pytest-xdist workers, a whole test file per worker (tests/README.md).
PYTEST = pytest -q -rs -n $(CORES) --dist loadfile
test: install         ## the unit tier, then the end-to-end tier
	$(ACTIVATE) $(PYTEST) -m "not e2e" tests
	$(ACTIVATE) $(PYTEST) -m e2e tests

test-unit: install    ## the unit tier alone
	$(ACTIVATE) $(PYTEST) -m "not e2e" tests

lint: install
	$(ACTIVATE) snakemake --lint

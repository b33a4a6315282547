# psilon-bench: `make run` (the default experiment) and `make test` set everything up on a
# fresh clone: a .venv with the CPU build of torch 2.13.0, then the package with [dev].
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PSB    := $(BIN)/psilon-bench
ARGS   ?=
FULL   ?=

.DEFAULT_GOAL := help
.PHONY: help setup run test test-full bench lint format clean clean-results

help:  ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $@

setup: $(VENV)/.installed  ## create .venv and install torch==2.13.0 (CPU) and the package

run: setup  ## the default experiment: baseline MLP on breast_cancer, 3 seeds, CPU (ARGS=overrides)
	$(PSB) run $(ARGS)

# pytest-xdist spreads the tests over the cores (-n auto; an idle worker takes queued tests
# from a busy one); the 10 slowest are listed at the end.
# Bytecode is cached (__pycache__, ignored by git) even where PYTHONDONTWRITEBYTECODE is set:
# every test process would otherwise recompile the package and pytest re-rewrite each test.
PYTEST = PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -q -n auto --dist worksteal --durations=10

test: setup  ## the fast test suite (pytest -m "not slow"), under 2 minutes on 2 cores
	$(PYTEST) $(ARGS)

test-full: setup  ## every test: the fast suite, the slow end-to-end runs and the long equivalence checks
	$(PYTEST) -m "slow or not slow" $(ARGS)

bench: setup  ## speed benchmarks, a few minutes (ARGS=--long adds the P1 section); figures go into the README
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/bench.py $(ARGS)

lint: setup  ## ruff check + format check
	$(BIN)/ruff check psilon_bench tests benchmarks
	$(BIN)/ruff format --check psilon_bench tests benchmarks

format: setup  ## ruff format + autofix
	$(BIN)/ruff check --fix psilon_bench tests benchmarks
	$(BIN)/ruff format psilon_bench tests benchmarks

clean:  ## remove the venv, build files and caches (keeps every result under results/)
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache

clean-results:  ## remove the run folders (results/runs, results/multirun); keeps results/<protocol>/
	rm -rf results/runs results/multirun

# --------------------------------------------------------------------------------------
# Protocol tables (PROTOCOLS.md P1-P6; README "Reproducing the papers"). Each target runs its
# sweeps (re-running skips finished jobs), then `psilon-bench table` with the protocol's claims
# (claims/<protocol>.yaml), its figure and its page (report.html) into results/<protocol>/.
# Quick CPU size by default; FULL=1 for the papers' sizes;
# DATA_DIR=../shared/data for local copies of the tabular data; LAUNCHER=parallel |
# submitit_local | submitit_slurm. P6_DIR= adds a folder of predefined-split datasets to P6
# (NAME.csv or NAME.csv.gz with NAME.splits.json beside it; split.kind=predefined).
DATA_DIR ?=
LAUNCHER ?=
P6_DIR   ?=
RES      := results
# FULL=1 writes results/<protocol>_full/, beside the committed quick-size results/<protocol>/
FX       := $(if $(FULL),_full)
comma    := ,
SWEEP     = OMP_NUM_THREADS=1 $(if $(DATA_DIR),PSILON_BENCH_DATA=$(abspath $(DATA_DIR))) \
            $(PSB) run -m $(if $(LAUNCHER),hydra/launcher=$(LAUNCHER)) trainer.threads=1
TABLE     = $(PSB) table
PLOT      = $(PSB) plot
# the sweep folder of part $(2) of protocol $(1)
SDIR      = hydra.sweep.dir=$(RES)/$(1)$(FX)/runs/$(2)
# the paper's claims of protocol $(1), checked by `table` (claims.md, claims.csv)
CLAIMS    = --claims claims/$(1).yaml
# the protocol's self-contained HTML page: tables, claims, statistics, figures, provenance
REPORT    = $(PSB) report $(RES)/$(1)$(FX)

P1_DATA_CLS := magic_telescope,credit_default
P1_DATA_REG := wine_quality,cpu_act,ailerons,elevators,house_16h,pol,miami_housing
P1_SPLIT    := split.n_train=2000 split.n_val=null split.n_test=null split.keep=20000
P1_GRID     := 'regularizer.strength=[5e-5,1e-4,2.5e-4,5e-4,1e-3,2.5e-3,5e-3,1e-2,2.5e-2,5e-2,1e-1,2.5e-1,5e-1]'
P1_FULL     := $(if $(FULL),model.width=500 trainer.epochs=1000 seeds=3 $(P1_GRID))
LIN_GRID    := 'regularizer.strength=[1e-3,1e-2,1e-1,1,10,100,1000]'
RF_GRID     := 'regularizer.strength=[1,2,4,8,16,32]'

.PHONY: tables table-psilon-tabular table-psilon-deep table-lp-bridge table-soft-diamond table-ewn table-small-data table-small-data-dev

tables: table-psilon-tabular table-psilon-deep table-lp-bridge table-soft-diamond table-ewn table-small-data  ## every protocol table (P1-P6)

table-psilon-tabular: setup  ## P1: PSiLON Net vs Standard Net vs ridge/logistic/forest on the 9 tabular sets
	$(SWEEP) experiment=psilon_tabular dataset=$(P1_DATA_CLS),$(P1_DATA_REG) $(P1_FULL) $(call SDIR,psilon_tabular,psilon_net) $(ARGS)
	$(SWEEP) experiment=psilon_tabular model=standard_net regularizer=length_l2 pruning=none dataset=$(P1_DATA_CLS),$(P1_DATA_REG) $(P1_FULL) $(call SDIR,psilon_tabular,standard_net) $(ARGS)
	$(SWEEP) model=sklearn_logistic dataset=$(P1_DATA_CLS) $(P1_SPLIT) $(LIN_GRID) $(if $(FULL),seeds=3,seeds=2) $(call SDIR,psilon_tabular,sklearn_logistic)
	$(SWEEP) model=sklearn_ridge dataset=$(P1_DATA_REG) $(P1_SPLIT) $(LIN_GRID) $(if $(FULL),seeds=3,seeds=2) $(call SDIR,psilon_tabular,sklearn_ridge)
	$(SWEEP) model=sklearn_rf dataset=$(P1_DATA_CLS),$(P1_DATA_REG) $(P1_SPLIT) $(RF_GRID) $(if $(FULL),seeds=3,seeds=2 model.n_estimators=100) $(call SDIR,psilon_tabular,sklearn_rf)
	$(TABLE) $(RES)/psilon_tabular$(FX)/runs --out $(RES)/psilon_tabular$(FX) --baseline sklearn_rf $(call CLAIMS,psilon_tabular)
	$(PLOT) $(RES)/psilon_tabular$(FX)/runs --kind lambda-path --out $(RES)/psilon_tabular$(FX)
	$(call REPORT,psilon_tabular)

P2_FULL := $(if $(FULL),model.width=500 model.depth=9 trainer.epochs=400 seeds=3)
P2_GRID_IB := 'regularizer.strength=[1e-5,2.5e-5,5e-5,1e-4,2.5e-4,5e-4,1e-3]'
P2_GRID_STD := 'regularizer.strength=[1e-3,2.5e-3,5e-3,1e-2,2.5e-2,5e-2,1e-1]'
P2_GRID := $(if $(FULL),$(P2_GRID_IB))
table-psilon-deep: setup  ## P2: PSiLON ResNet ablation (IB/OB, L1/L2, per-unit, Standard) on digits
	$(SWEEP) experiment=psilon_deep model.norm=l1,l2 model.bound=improved,original $(P2_FULL) $(P2_GRID) $(call SDIR,psilon_deep,ablation) $(ARGS)
	$(SWEEP) experiment=psilon_deep model.length=per_unit $(P2_FULL) $(P2_GRID) $(call SDIR,psilon_deep,per_unit) $(ARGS)
	$(SWEEP) experiment=psilon_deep model=standard_net model.layout=residual regularizer=length_l2 'regularizer.strength=[1e-3,1e-2,1e-1]' $(P2_FULL) $(if $(FULL),$(P2_GRID_STD)) $(call SDIR,psilon_deep,standard) $(ARGS)
	$(TABLE) $(RES)/psilon_deep$(FX)/runs --out $(RES)/psilon_deep$(FX) $(call CLAIMS,psilon_deep)
	$(PLOT) $(RES)/psilon_deep$(FX)/runs --kind lipschitz --out $(RES)/psilon_deep$(FX)
	$(call REPORT,psilon_deep)

P3_DATA := $(if $(FULL),dataset=breast_cancer$(comma)digits$(comma)magic_telescope$(comma)credit_default seeds=5)
table-lp-bridge: setup  ## P3: L_p bridge decay, sparsity vs accuracy (Pareto figure)
	$(SWEEP) experiment=lp_bridge model=mlp,psilon_net $(if $(FULL),regularizer.p=0.5$(comma)0.8$(comma)1.0$(comma)1.5$(comma)2.0) $(P3_DATA) $(call SDIR,lp_bridge,lp_bridge) $(ARGS)
	$(SWEEP) experiment=lp_bridge model=mlp,psilon_net regularizer=l1 $(P3_DATA) $(call SDIR,lp_bridge,l1) $(ARGS)
	$(TABLE) $(RES)/lp_bridge$(FX)/runs --out $(RES)/lp_bridge$(FX) --metrics test.accuracy,sparsity.exact $(call CLAIMS,lp_bridge)
	$(PLOT) $(RES)/lp_bridge$(FX)/runs --kind pareto --out $(RES)/lp_bridge$(FX)
	$(call REPORT,lp_bridge)

table-soft-diamond: setup  ## P4: soft diamond vs L1 vs L2 (threshold sparsity, Pareto figure)
	$(SWEEP) experiment=soft_diamond model=mlp $(if $(FULL),model=mlp$(comma)psilon_net regularizer.alpha=0.5$(comma)1.0$(comma)1.5$(comma)2.0 seeds=5) $(call SDIR,soft_diamond,soft_diamond) $(ARGS)
	$(SWEEP) experiment=soft_diamond regularizer=l1,l2 $(if $(FULL),model=mlp$(comma)psilon_net seeds=5) $(call SDIR,soft_diamond,l1_l2) $(ARGS)
	$(TABLE) $(RES)/soft_diamond$(FX)/runs --out $(RES)/soft_diamond$(FX) --metrics test.accuracy,sparsity.threshold_1e-2 --cost-relative-to l2 $(call CLAIMS,soft_diamond)
	$(PLOT) $(RES)/soft_diamond$(FX)/runs --kind pareto --out $(RES)/soft_diamond$(FX)
	$(call REPORT,soft_diamond)

table-ewn: setup  ## P5: EWN vs SWN vs plain, accuracy after pruning hidden units (pruning figure)
	$(SWEEP) experiment=ewn model=mlp,swn_mlp,ewn_mlp 'pruning.fraction=[0.5,0.8,0.9]' $(if $(FULL),model.width=1024 seeds=5 trainer.epochs=500) $(call SDIR,ewn,ewn) $(ARGS)
	$(TABLE) $(RES)/ewn$(FX)/runs --out $(RES)/ewn$(FX) --by data,prune.amount --metrics test.accuracy $(call CLAIMS,ewn)
	$(PLOT) $(RES)/ewn$(FX)/runs --kind pruning --out $(RES)/ewn$(FX)
	$(call REPORT,ewn)

# P6: every offline classification set; n_train 500 only where the set has enough rows. Every
# method is tuned by the same recipe (experiment=small_data: seeds x strengths x learning rates
# as members, selection on validation): three networks, each with its own regularizer, and the
# scikit-learn logistic regression, random forest and MLP on the same splits.
P6_SMALL := iris,wine,breast_cancer,digits$(if $(DATA_DIR),$(comma)$(P1_DATA_CLS))
P6_LARGE := breast_cancer,digits$(if $(DATA_DIR),$(comma)$(P1_DATA_CLS))
P6_COMMON := experiment=small_data $(if $(FULL),seeds=5)
P6_NETS  := mlp:weight_decay psilon_net:path_norm psilon_resnet:path_norm
# the P6 sweeps of one cell: $(1) = dataset overrides, $(2) = the run folders' prefix
P6_CELL = for m in $(P6_NETS); do \
	    $(SWEEP) $(P6_COMMON) $(1) model=$${m%%:*} regularizer=$${m\#\#*:} $(call SDIR,small_data,$(2)-$${m%%:*}) $(ARGS) || exit 1; done; \
	  $(SWEEP) $(P6_COMMON) $(1) model=sklearn_mlp regularizer=none $(call SDIR,small_data,$(2)-sklearn_mlp) || exit 1; \
	  $(SWEEP) $(P6_COMMON) $(1) model=sklearn_logistic regularizer=none $(LIN_GRID) $(call SDIR,small_data,$(2)-logistic) || exit 1; \
	  $(SWEEP) $(P6_COMMON) $(1) model=sklearn_rf regularizer=none $(RF_GRID) $(call SDIR,small_data,$(2)-rf) || exit 1
table-small-data: setup  ## P6: all models on every offline classification set, n_train 50/100/500
	@if [ -n "$(P6_DIR)" ] && ! ls $(P6_DIR)/*.splits.json >/dev/null 2>&1; then echo "error: P6_DIR=$(P6_DIR) holds no NAME.splits.json (a predefined-split dataset is NAME.csv[.gz] with NAME.splits.json beside it)" >&2; exit 2; fi
	for n in 50 100 500; do data=$(P6_SMALL); [ $$n = 500 ] && data=$(P6_LARGE); \
	  $(call P6_CELL,split.n_train=$$n dataset=$$data,n$$n); \
	done
	if [ -n "$(P6_DIR)" ]; then for f in $(P6_DIR)/*.splits.json; do stem=$${f%.splits.json}; name=$$(basename $$stem); \
	  csv=$$(ls $$stem.csv $$stem.csv.gz 2>/dev/null | head -n 1); \
	  [ -n "$$csv" ] || { echo "error: P6_DIR: no $$name.csv or $$name.csv.gz beside $$f" >&2; exit 2; }; \
	  pre="dataset=csv dataset.path=$$(realpath $$csv) split.kind=predefined"; \
	  $(call P6_CELL,$$pre,pre-$$name); \
	done; fi
	$(TABLE) $(RES)/small_data$(FX)/runs --out $(RES)/small_data$(FX) --by data,n_train --metrics test.accuracy,test.balanced_accuracy,test.log_loss --select-on val.accuracy --baseline mlp+weight_decay,sklearn_rf $(call CLAIMS,small_data)
	$(call REPORT,small_data)

# How the recipe's early stopping and width were chosen (issue 9), without P6's test rows: the
# networks of P6 under each candidate (trainer.keep_best x model.width) on fresh split draws of
# the same cells (seeds 100-102; P6 uses 0-4), scored by those draws' test accuracy after the
# usual selection on validation accuracy. Rule, fixed before the run: the candidate with the
# best mean over the 3 networks x 16 cells replaces the recipe if it beats keep_best=none,
# width=64 (the recipe before) by at least 0.2 points (candidates.txt). Outcome: keep_best=val,
# width 64 (89.06 % against 88.46 %; README "A recipe for small data"). ARGS reach every sweep.
DEV_AXES := experiment=small_data 'seeds=[100,101,102]' trainer.keep_best=none,val model.width=64,128
DEV_SWEEP = $(SWEEP) $(DEV_AXES) $(2) $(call SDIR,small_data_dev,$(1)) $(ARGS)
table-small-data-dev: setup  ## P6's recipe candidates on fresh split draws (how the recipe was chosen)
	$(call DEV_SWEEP,small-psilon,model=psilon_net$(comma)psilon_resnet regularizer=path_norm split.n_train=50$(comma)100 dataset=$(P6_SMALL))
	$(call DEV_SWEEP,large-psilon,model=psilon_net$(comma)psilon_resnet regularizer=path_norm split.n_train=500 dataset=$(P6_LARGE))
	$(call DEV_SWEEP,small-mlp,model=mlp regularizer=weight_decay split.n_train=50$(comma)100 dataset=$(P6_SMALL))
	$(call DEV_SWEEP,large-mlp,model=mlp regularizer=weight_decay split.n_train=500 dataset=$(P6_LARGE))
	$(TABLE) $(RES)/small_data_dev/runs --out $(RES)/small_data_dev --by data,n_train --metrics test.accuracy --select-on val.accuracy
	$(BIN)/python -c "import pandas as pd; t = pd.read_csv('$(RES)/small_data_dev/table.csv'); \
	  t['candidate'] = t['method'].str.extract(r'\((.*)\)', expand=False); \
	  m = t.pivot_table(index=['data', 'method'], columns='candidate', values='test.accuracy.mean'); \
	  print(m.mean().mul(100).round(2).rename('mean test accuracy % (3 networks x 16 cells)').to_string())" \
	  | tee $(RES)/small_data_dev/candidates.txt

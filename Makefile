# Two commands do all the set-up on a fresh machine: `make workshop` and `make test`.
# Both create .venv if missing and (re)install the project when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TVM_STAMP := $(VENV)/.tvm-installed
# nbval runs the notebooks in a scratch work directory, never in your own work/.
NBVAL_WORK := $(CURDIR)/work/nbval
# ...and again with BACKEND=aws against the aws-fidelity stand-in (`python -m helpers standin`).
NBVAL_AWS_WORK := $(CURDIR)/work/nbval-aws
# The 2-hour core path alone (every `extension` cell skipped), on local, with a model the workshop does not ship.
CORE_PATH_TEST := tests/test_core_path.py::test_the_core_path_runs_alone_on_local_with_a_model_the_workshop_does_not_ship
# The Jupyter kernel every notebook names (helpers/kernel.py; tests/test_kernel.py checks both agree).
KERNEL_NAME    := neo-workshop
KERNEL_DISPLAY := Python 3 (neo-workshop)
# Python 3.12 (SageMaker Studio's) for `make test-py312`; .ci/find-python says how it is found.
VENV312  := .venv312
STAMP312 := $(VENV312)/.installed
# The laptop's pins (torch 2.14.1, torchvision 0.29.1); pyproject.toml has ranges that SageMaker
# Studio's image (torch 2.6) meets too.
PINS := constraints-laptop.txt

# SageMaker Studio's kernel (`make kernel` where $(PYTHON) has torch and torchvision, i.e. the
# image's own Python): a venv that sees the image's packages (--system-site-packages: its torch
# 2.6, torchvision 0.21, numpy, SDK v2 and sagemaker-core 1.x) and installs only what they lack,
# with every package of the image pinned at the image's version (image-packages.txt), so nothing
# of the image is replaced, not even inside the venv. No `aws` extra: sagemaker-core 2.x and SDK
# v2 both own the `sagemaker` package; the kernel uses the image's SDK (helpers/sdk.py).
STUDIO_VENV  := .venv-studio
STUDIO_STAMP := $(STUDIO_VENV)/.installed
# `make test-studio`: a stand-in for that image (SageMaker Distribution 3.10.0's versions that
# matter, tests/studio/sagemaker-distribution-3.10.0.txt) on Python 3.12, built once per CI run
# (PyPI's torch 2.6 for Linux is the CUDA build: ~6 GB, ~4 min here); then the Studio set-up of
# docs/STUDIO.md on it and the core path of the six notebooks in the kernel it registers. The stand-in
# is a copy of a whole Python 3.12 installation, not a venv: like the image's conda base, its
# site-packages are what a `--system-site-packages` venv on it sees.
STUDIO_IMAGE      := .venv-studio-image
STUDIO_IMAGE_REQS := tests/studio/sagemaker-distribution-3.10.0.txt
STUDIO_WORK       := $(CURDIR)/work/studio

# Side environment with the torch of Neo's newest PyTorch FrameworkVersion (2.0): the pre-flight
# check loads the traced model with it (helpers/preflight.py). ~3 GB, about a minute.
TORCH20 := .venv-torch20
# Side environment with the SageMaker Python SDK v2 that SageMaker Studio ships (SageMaker
# Distribution 3.10.0: sagemaker 2.245.0). tests/test_sdk_v2_flow.py runs an unchanged SDK v2
# compile -> deploy -> predict with it against the local backend. Not the project venv: SDK v2
# pins numpy 1.26.4 and sagemaker-core<2. No torch (the model servers run in .venv).
SDKV2 := .venv-sdkv2

# Optional, not part of `make test`: torch 1.8.1, the FrameworkVersion real Neo uses for
# TargetPlatform targets (notebook 04), on Python 3.8 (.ci/find-python 3.8; torch 1.8 has no wheel
# for a newer Python). ~1.7 GB. With it the pre-flight loads the model with torch 1.8.1 too.
TORCH18 := .venv-torch18

.PHONY: setup torch20 tvm torch18 sdkv2 workshop test test-py312 test-studio test-browser lint kernel kernel-studio kernel-venv lab translations clean

$(STAMP): pyproject.toml $(PINS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c $(PINS) -e '.[dev,aws]'
	@touch $(STAMP)

setup: $(STAMP)

$(TORCH20)/.installed:
	@# torch 2.0.1 has wheels for Python 3.8-3.11 only: this venv uses a 3.11 whatever $(PYTHON) is
	@test -x $(TORCH20)/bin/python || { py=$$(.ci/find-python 3.11) && $$py -m venv $(TORCH20); }
	$(TORCH20)/bin/python -m pip install --quiet "torch==2.0.1" "numpy<2"
	@touch $@

torch20: $(TORCH20)/.installed  ## torch 2.0.1 beside the workshop, for the pre-flight's real load

$(TVM_STAMP): $(STAMP)
	$(PY) -m pip install --quiet "apache-tvm==0.27.0.post1" "apache-tvm-ffi==0.1.15.post2"
	@touch $@

tvm: $(TVM_STAMP)  ## optional: apache-tvm in .venv (100 MB), for notebook 02's Relax view; make test installs it

$(SDKV2)/.installed:
	@test -x $(SDKV2)/bin/python || $(PYTHON) -m venv $(SDKV2)
	$(SDKV2)/bin/python -m pip install --quiet "sagemaker==2.245.0"
	@touch $@

sdkv2: $(SDKV2)/.installed  ## SageMaker Python SDK v2 (Studio's 2.245.0) beside the workshop, for the SDK v2 flow test

$(TORCH18)/.installed:
	@test -x $(TORCH18)/bin/python || { py=$$(.ci/find-python 3.8) && $$py -m venv $(TORCH18); }
	$(TORCH18)/bin/python -m pip install --quiet "torch==1.8.1" "numpy<1.25"
	@touch $@

torch18: $(TORCH18)/.installed  ## optional: torch 1.8.1 on Python 3.8, for the pre-flight's real load at FrameworkVersion 1.8

workshop: setup  ## execute every notebook headlessly (executed copies + figures under work/)
	$(PY) -m helpers run

# nbval executes the English notebooks; notebooks/ko/ has the same code cells (tests/test_translations.py
# proves it), so conftest.py leaves it out (NEO_WORKSHOP_NBVAL_TRANSLATIONS=1 executes it too).
test: setup lint torch20 sdkv2 tvm  ## unit tests + nbval over every notebook, on local and on the aws stand-in
	rm -rf $(NBVAL_WORK) $(NBVAL_AWS_WORK) $(NBVAL_AWS_WORK).log
	@# Two lanes at once, each keeping about one of two cores busy (measured: 37 CPU-minutes in a 33-minute
	@# run of one): the unit tests and nbval on local; nbval on the aws stand-in, then the 2-hour core path
	@# alone on local (tests/test_core_path.py's slow test). The second lane's output is printed when it
	@# ends. Each pytest session checks only its own processes (conftest.py); both lanes must pass.
	@mkdir -p $(dir $(NBVAL_AWS_WORK))
	@{ NEO_WORKSHOP_REPEATS=5 $(PY) -m helpers standin --work-dir $(NBVAL_AWS_WORK) -- \
		$(PY) -m pytest notebooks --nbval-lax --nbval-current-env -p no:cacheprovider && \
	  $(PY) -m pytest -p no:cacheprovider --durations=1 $(CORE_PATH_TEST); } >$(NBVAL_AWS_WORK).log 2>&1 & aws=$$!; \
	echo "nbval on the aws stand-in, then the core path alone, run alongside (pid $$aws, output: $(NBVAL_AWS_WORK).log)"; \
	NEO_WORKSHOP_REQUIRE_TORCH20=1 NEO_WORKSHOP_REQUIRE_SDKV2=1 NEO_WORKSHOP_REQUIRE_TVM=1 NEO_WORKSHOP_WORK_DIR=$(NBVAL_WORK) NEO_WORKSHOP_REPEATS=10 \
		$(PY) -m pytest tests notebooks --nbval-lax --nbval-current-env -p no:cacheprovider --durations=25 \
		--deselect $(CORE_PATH_TEST); local=$$?; \
	wait $$aws; standin=$$?; \
	echo "== nbval on the aws stand-in, then the core path alone (exit $$standin):"; cat $(NBVAL_AWS_WORK).log; \
	test $$local -eq 0 && test $$standin -eq 0
	@# the core path alone runs on the aws stand-in too, in SageMaker Studio's kernel: `make test-studio`

$(STAMP312): pyproject.toml $(PINS)
	@test -x $(VENV312)/bin/python || { py=$$(.ci/find-python 3.12) && $$py -m venv $(VENV312); }
	$(VENV312)/bin/python -m pip install --quiet --upgrade pip
	$(VENV312)/bin/python -m pip install --quiet -c $(PINS) -e '.[dev,aws]'
	@touch $(STAMP312)

test-py312: $(STAMP312)  ## the fast unit tests again on Python 3.12, in .venv312 (servers and notebooks: `make test`)
	$(VENV312)/bin/python -m pytest tests -m "not slow" -p no:cacheprovider

test-studio: $(STUDIO_IMAGE)/.installed  ## docs/STUDIO.md's set-up on a stand-in of Studio's image, then the core path of the six notebooks in the kernel it registers, on the aws stand-in
	rm -rf $(STUDIO_VENV) $(STUDIO_WORK)
	@# exactly the Studio set-up (`make kernel` with the image's python3), its kernel spec in a scratch data dir
	@start=$$(date +%s); \
	JUPYTER_DATA_DIR=$(STUDIO_WORK)/jupyter-data $(MAKE) --no-print-directory kernel PYTHON=$(CURDIR)/$(STUDIO_IMAGE)/bin/python3 && \
	echo "== make kernel on the Studio stand-in: $$(( $$(date +%s) - start )) s, adds $$(du -sh $(STUDIO_VENV) | cut -f1) ($(STUDIO_VENV))"
	@# the image's own environment is unchanged, and the kernel runs the image's torch and SDK v2
	$(STUDIO_IMAGE)/bin/python3 -m pip list --format=freeze 2>/dev/null | grep -E '^[A-Za-z0-9._-]+==[A-Za-z0-9.+!_-]+$$' | diff $(STUDIO_VENV)/image-packages.txt -
	$(STUDIO_VENV)/bin/python tests/studio/check_kernel.py $(STUDIO_IMAGE_REQS)
	@# Studio's attendees run on AWS: the 2-hour core path of the six notebooks, in the kernel `make kernel`
	@# registered (the one the notebooks name), against the aws stand-in (every cell: `make test`)
	JUPYTER_DATA_DIR=$(STUDIO_WORK)/jupyter-data $(STUDIO_VENV)/bin/python -m helpers standin --work-dir $(STUDIO_WORK)/core -- \
		$(STUDIO_VENV)/bin/python -m helpers run --core-only --kernel $(KERNEL_NAME) --work-dir $(STUDIO_WORK)/core -p REPEATS=5
	test -s $(STUDIO_WORK)/core/report.html  # the run's report: nbconvert's templates found from the venv too

# Debian's chromium (apt-get, as root: CI and the workshop machines), driven by Playwright (the dev extra)
# and a CJK font, without which the Korean edition renders as empty boxes.
CHROMIUM := /usr/bin/chromium
CJK_FONT := /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
$(CHROMIUM) $(CJK_FONT):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >/dev/null

test-browser: setup $(CHROMIUM) $(CJK_FONT)  ## 01, 03 and ko/01 in JupyterLab in headless Chromium; screenshots in work/browser/
	NEO_WORKSHOP_BROWSER=1 NEO_WORKSHOP_CHROMIUM=$(CHROMIUM) $(PY) -m pytest tests/browser -p no:cacheprovider

lint: setup
	$(VENV)/bin/ruff check helpers tests tools notebooks conftest.py

# Which kernel `make kernel` builds: on the image's PyTorch if $(PYTHON) has torch and torchvision
# (SageMaker Studio), else .venv. find_spec: looked up, not imported (make reads this every time).
KERNEL_ON := $(shell $(PYTHON) -c "import importlib.util as u; print('studio' if u.find_spec('torch') and u.find_spec('torchvision') else 'venv')" 2>/dev/null || echo venv)

kernel: kernel-$(KERNEL_ON)  ## the Jupyter kernel the notebooks name, for your user: on $(PYTHON)'s torch if it has one (SageMaker Studio), else .venv

kernel-studio: $(STUDIO_STAMP)  ## the Studio kernel: .venv-studio on the image's Python and PyTorch, registered for your user
	$(STUDIO_VENV)/bin/python -m ipykernel install --user --name $(KERNEL_NAME) --display-name "$(KERNEL_DISPLAY)"

kernel-venv: setup  ## register .venv (the laptop's pinned environment) as the notebooks' kernel, for your user
	$(PY) -m ipykernel install --user --name $(KERNEL_NAME) --display-name "$(KERNEL_DISPLAY)"

$(STUDIO_STAMP): pyproject.toml
	@test -x $(STUDIO_VENV)/bin/python || $(PYTHON) -m venv --system-site-packages $(STUDIO_VENV)
	@# the image's packages, each at its version: constraints, so pip adds only what the image lacks
	$(PYTHON) -m pip list --format=freeze 2>/dev/null | grep -E '^[A-Za-z0-9._-]+==[A-Za-z0-9.+!_-]+$$' > $(STUDIO_VENV)/image-packages.txt
	$(STUDIO_VENV)/bin/python -m pip install --quiet -c $(STUDIO_VENV)/image-packages.txt -e .
	@touch $@

$(STUDIO_IMAGE)/.installed: $(STUDIO_IMAGE_REQS)
	rm -rf $(STUDIO_IMAGE)
	py=$$(.ci/find-python 3.12) && cp -a "$$($$py -c 'import sys; print(sys.prefix)')" $(STUDIO_IMAGE)
	$(STUDIO_IMAGE)/bin/python3 -m pip install --quiet -r $(STUDIO_IMAGE_REQS)
	@touch $@

lab: setup  ## JupyterLab on the notebooks, with the workshop's kernel registered inside .venv
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL_NAME) --display-name "$(KERNEL_DISPLAY)"
	$(VENV)/bin/jupyter lab notebooks

translations: setup  ## rebuild notebooks/ko/ from the English notebooks + translations, then list what to (re)translate
	$(PY) -m helpers translate build
	$(PY) -m helpers translate status

clean:
	rm -rf work .pytest_cache .ruff_cache $(TORCH20) $(TORCH18) $(SDKV2)

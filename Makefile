# Two commands for a fresh machine:  `make book`  and  `make test`.
# Both create .venv from requirements.txt (and install ntklib editable) when it
# is missing or older than requirements.txt / pyproject.toml.

PYTHON   ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
STAMP    := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium
export NTKLIB_PROFILE ?= quick
export PYDEVD_DISABLE_FILE_VALIDATION = 1

NOTEBOOKS = $(shell $(PYTHON) -m booktools.toc)
ASSIGNMENTS_OUT := _build/assignments
MASTERS := $(wildcard book/assignments/a*_*.ipynb)

.PHONY: robustness book test lint lint-only unit notebooks site site-test chromium env clean assignments lock pdf tex

$(STAMP): requirements.lock pyproject.toml
	@echo "==> Setting up $(VENV) from requirements.lock (first run: about a minute)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null   # the stock kernel spec (an older one named a provisioner)
	@touch $@

env: $(STAMP)

# A notebook that fails leaves its traceback in _build/html/reports/ (myst-nb), naming
# this machine's paths: every site build moves it to _build/reports, out of the folder
# that is published, whether the build passed or failed (tests/test_site.py checks).
# $(call site_build,environment,options): one site build, its exit status kept.
site_build = ( rm -rf _build/html/reports _build/reports; \
	$(1) NTKLIB_SEED=0 $(BIN)/jupyter-book build --all . $(2); rc=$$?; \
	if [ -d _build/html/reports ]; then mv _build/html/reports _build/reports; \
		echo "==> notebook tracebacks in $(CURDIR)/_build/reports (kept out of the site)"; fi; \
	exit $$rc )

book: $(STAMP) assignments
	@# --all: an incremental build leaves the bibliography stale
	$(call site_build,,)
	@echo
	@echo "==> The book is built. Open $(CURDIR)/_build/html/index.html"

# `make test` runs five stages and ends with one line per stage and its time.
TIMES := _build/stage-times.txt
# $(call timed,label,command): run command; on success append "label  N s" to TIMES
timed = s=$$(date +%s); $(2) || exit $$?; \
	printf '%-58s %5d s\n' "$(1)" $$(( $$(date +%s) - s )) >> $(TIMES)

test: $(STAMP) chromium
	@mkdir -p _build && rm -f $(TIMES)
	@echo "==> 1/5 ruff: lint and format check of ntklib, tests and every notebook (88 columns); mypy over ntklib"
	@$(call timed,1/5 ruff (lint and format) + mypy,$(MAKE) --no-print-directory lint-only)
	@echo "==> 2/5 the assignments: otter assign, solutions graded (make assignments)"
	@$(call timed,2/5 assignments (otter assign),$(MAKE) --no-print-directory assignments)
	@echo "==> 3/5 unit tests, doctests, notebook hygiene, the assignments' grading, the wheel in a fresh venv, and every notebook in _toc.yml under nbval at NTKLIB_SEED=1 (the site build runs them at 0)"
	@$(call timed,3/5 tests + doctests + notebooks (pytest),NTKLIB_ASSIGNMENTS=$(ASSIGNMENTS_OUT) $(BIN)/python -m pytest tests ntklib booktools --doctest-modules --ignore=tests/test_site.py -q --durations=12 \
		&& NTKLIB_SEED=1 $(BIN)/python -m pytest -q --nbval-lax --nbval-current-env $(NOTEBOOKS))
	@echo "==> 4/5 site build with warnings as errors, under MPLBACKEND=Agg (figures must survive it)"
	@$(call timed,4/5 site build (jupyter-book -W),$(call site_build,MPLBACKEND=Agg,-W -n --keep-going))
	@echo "==> 5/5 every page of the site in headless Chromium"
	@$(call timed,5/5 browser test (Chromium),NTKLIB_SITE_BUILT=1 $(BIN)/python -m pytest tests/test_site.py -q)
	@echo
	@echo "==> make test passed; time per stage:"
	@cat $(TIMES)

# Student notebooks, autograder zips and released solutions of every master in
# book/assignments (otter assign; offline and deterministic), then each solution
# graded as a student's would be: one that fails its own tests stops the build
# with a message naming the assignment and the question.
assignments: $(ASSIGNMENTS_OUT)/.built

$(ASSIGNMENTS_OUT)/.built: $(STAMP) $(MASTERS) $(wildcard book/assignments/*/*.yml) booktools/assignments.py
	@echo "==> Building the assignments (otter assign) into $(ASSIGNMENTS_OUT)"
	$(BIN)/python -m booktools.assignments --out $(ASSIGNMENTS_OUT)
	@touch $@

lint: $(STAMP) lint-only

# ruff over everything; mypy over ntklib (it ships py.typed: its annotations are a
# promise to users; [tool.mypy] in pyproject.toml). mypy takes about 30 s cold, a few
# seconds with its cache (.mypy_cache).
lint-only:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest tests ntklib booktools --doctest-modules --ignore=tests/test_site.py -q

notebooks: $(STAMP)
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env -q $(NOTEBOOKS)

# Every check of every notebook for NTKLIB_SEED = 0..4 and once with one thread
# (about 15 minutes on two cores), then book/robustness/<notebook>.json: per check, the worst
# margin and the runs that failed. `make robustness NOTEBOOKS=book/ch04_heavy_ball.ipynb`
# reruns one notebook and keeps the other rows. Commit the table with the change.
robustness: $(STAMP)
	@s=$$(date +%s); $(BIN)/python -m booktools.robustness $(NOTEBOOKS); rc=$$?; \
		echo "==> make robustness took $$(( $$(date +%s) - s )) s"; exit $$rc

site-test: $(STAMP) chromium
	$(BIN)/python -m pytest tests/test_site.py -q

chromium:
	@if [ -x "$(CHROMIUM)" ]; then :; else \
		echo "==> Installing Debian's chromium for the browser tests (apt-get install chromium)"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium \
		|| { echo "Could not install chromium; install it yourself or set CHROMIUM=/path/to/chromium"; exit 1; }; \
	fi

# The whole book as one PDF (_build/latex/book.pdf) through XeLaTeX, then checked:
# every chapter present, no undefined reference, math typeset (no TeX source left
# in the text), every figure included. Not part of `make test` (it executes the
# notebooks a second time: about 5 minutes); TeX comes from Debian, as Chromium does.
TEX_PACKAGES := latexmk texlive-xetex texlive-latex-recommended texlive-latex-extra \
	texlive-fonts-recommended tex-gyre fonts-freefont-otf xindy texlive-plain-generic poppler-utils

pdf: $(STAMP) tex
	@echo "==> Building the PDF (jupyter-book --builder pdflatex, engine xelatex)"
	@# figures as PNG: LaTeX takes no SVG (ntklib.plotting.show_figures_as)
	@s=$$(date +%s); NTKLIB_FIGURE_FORMAT=png $(BIN)/jupyter-book build . --builder pdflatex || exit $$?; \
		echo "==> PDF built in $$(( $$(date +%s) - s )) s: $(CURDIR)/_build/latex/book.pdf"
	NTKLIB_PDF_BUILT=1 $(BIN)/python -m pytest tests/test_pdf.py -q

tex:
	@if command -v xelatex >/dev/null && command -v latexmk >/dev/null && command -v xindy >/dev/null \
		&& command -v pdftotext >/dev/null && [ -f /usr/share/fonts/opentype/freefont/FreeSerif.otf ]; then :; else \
		echo "==> Installing TeX for the PDF from Debian (apt-get install $(TEX_PACKAGES); about 350 MB)"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(TEX_PACKAGES) \
		|| { echo "Could not install TeX; install the Debian packages above yourself"; exit 1; }; \
	fi

# requirements.txt is what people edit (the book's direct dependencies, pinned);
# requirements.lock is every package of the environment, compiled from it with
# pip-tools and installed by every target. Refresh it after editing requirements.txt.
lock:
	@echo "==> Compiling requirements.lock from requirements.txt (pip-tools, in _build/piptools)"
	@test -x _build/piptools/bin/pip-compile || { $(PYTHON) -m venv _build/piptools && \
		_build/piptools/bin/python -m pip install --quiet --disable-pip-version-check pip-tools==7.6.2; }
	CUSTOM_COMPILE_COMMAND="make lock" _build/piptools/bin/pip-compile --quiet --strip-extras --allow-unsafe \
		--no-emit-index-url --no-emit-find-links --output-file requirements.lock requirements.txt
	@# torch==2.13.0 (not +cpu): the CPU wheel and a CUDA build of the same release both satisfy it
	sed -i 's/^torch==\(.*\)+cpu$$/torch==\1/' requirements.lock

clean:
	rm -rf _build

# Two commands do everything on a fresh Debian machine: `make pdf` and `make test`.
# Each first runs `setup` (system packages, .venv with pinned dependencies).
VENV   ?= .venv
PY     := $(VENV)/bin/python
BOOK   ?= book
OUT    ?= dist
ARGS   ?=

.PHONY: setup pdf epub all status check update-references test clean import-seeds

setup:
	@bash tools/bootstrap.sh

pdf: setup
	$(PY) build.py pdf --book $(BOOK) --out $(OUT) $(ARGS)

epub: setup
	$(PY) build.py epub --book $(BOOK) --out $(OUT) $(ARGS)

all: setup
	$(PY) build.py all --book $(BOOK) --out $(OUT) $(ARGS)

status: setup
	$(PY) build.py status --book $(BOOK) $(ARGS)

# Build what is missing, verify every artifact and lint the book (CI runs it).
check:
	@bash tools/bootstrap.sh --check
	$(PY) build.py check --book $(BOOK) --out $(OUT) $(ARGS)

# After an intended change to the layout: refresh the visual-regression reference images.
update-references:
	@bash tools/bootstrap.sh --check
	$(PY) build.py check --update-references --book $(BOOK) --out $(OUT) $(ARGS)

test: setup
	$(PY) -m pytest -q $(ARGS)

# Re-import the seeds from book/sources/ (regenerates the chapters and book/CHANGES.md).
import-seeds: setup
	$(PY) tools/import_seeds.py

clean:
	rm -rf $(OUT)

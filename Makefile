# Two commands do everything on a fresh Debian machine: `make pdf` and `make test`.
# Each first runs `setup` (system packages, .venv with pinned dependencies).
VENV   ?= .venv
PY     := $(VENV)/bin/python
BOOK   ?= book
OUT    ?= dist
ARGS   ?=

.PHONY: setup pdf epub all web preview status check update-references test test-slow clean import-seeds bench print release release-index

setup:
	@bash tools/bootstrap.sh

pdf: setup
	$(PY) build.py pdf --book $(BOOK) --out $(OUT) $(ARGS)

epub: setup
	$(PY) build.py epub --book $(BOOK) --out $(OUT) $(ARGS)

all: setup
	$(PY) build.py all --book $(BOOK) --out $(OUT) $(ARGS)

# The web edition: a static site in $(OUT)/web/ and $(OUT)/<slug>-web.zip.
web: setup
	$(PY) build.py web --book $(BOOK) --out $(OUT) $(ARGS)

# Serve the web edition on 127.0.0.1 and rebuild it on every save (ARGS="--lang ja --port 8000").
preview: setup
	$(PY) build.py preview --book $(BOOK) --out $(OUT) $(ARGS)

# Press PDF (trim + bleed, crop marks, padded to the signature) and cover, per edition.
print: setup
	$(PY) build.py print --book $(BOOK) --out $(OUT) $(ARGS)

# Everything for a release into $(OUT): screen PDF, press PDF, cover, EPUB, web zip, SHA256SUMS, manifest.json.
release: setup
	$(PY) build.py release --book $(BOOK) --out $(OUT) $(ARGS)

# After gathering release files from several runners into $(OUT): index them again.
release-index: setup
	$(PY) build.py index --book $(BOOK) --out $(OUT) $(ARGS)

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
	$(PY) -m pytest -q --durations=12 $(ARGS)

# The slow tier: hostile cases too long for `make test` (a 5 MB chapter); CI runs it.
test-slow: setup
	$(PY) -m pytest -q -m slow -s $(ARGS)

# The press against the naive pipeline (pandoc → WeasyPrint by hand), measured in the same run:
# writes docs/bench.md and docs/bench.json. Try it with ARGS="--quick".
bench: setup
	$(PY) tools/bench.py $(ARGS)

# Re-import the seeds from book/sources/ (regenerates the chapters and book/CHANGES.md).
import-seeds: setup
	$(PY) tools/import_seeds.py

clean:
	rm -rf $(OUT)

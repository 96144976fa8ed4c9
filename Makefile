# packyard's build, test and lint targets. `make` alone lists them.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO ?= go
TOOLS_DIR ?= $(CURDIR)/bin/tools
export TOOLS_DIR

# Build information, stamped into the binary with -ldflags -X.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)

# How long each fuzz target runs under `make fuzz`, and under `make
# fuzz-ci`, which `make test` runs.
FUZZTIME ?= 20s
FUZZTIME_CI ?= 5s

# The tools the end-to-end tests drive (see hack/tools.sh).
E2E_TOOLS := oras crane helm registry

EXAMPLES := $(sort $(wildcard examples/*/pack.json))
EXAMPLES := $(EXAMPLES:/pack.json=)

.PHONY: help
help: ## Show this help
	@echo "Usage: make TARGET [VAR=value]"
	@echo
	@awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z0-9_-]+:.*## / { printf "  %-12s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/packyard, stamped with the version from git describe
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/packyard ./cmd/packyard

.PHONY: tools
tools: ## Install the pinned third-party tools into bin/tools (oras, helm, crane, registry, golangci-lint)
	hack/tools.sh

.PHONY: e2e-tools
e2e-tools:
	hack/tools.sh $(E2E_TOOLS)

.PHONY: test
test: e2e-tools ## Lint, fuzz every target briefly, then run every test with the race detector, end-to-end tests included
	$(GO) test -race -count=1 ./...

.PHONY: e2e
e2e: e2e-tools ## Run the end-to-end tests only (the built binary against real oras and tar)
	$(GO) test -count=1 ./e2e

.PHONY: bench
bench: e2e-tools ## Run every benchmark once: packer, and registry ones against oras and a local registry (docs/benchmarks.md)
	$(GO) test -run=NONE -bench=. -benchmem -timeout=30m ./...

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (20s); failing inputs land in testdata/fuzz
	hack/fuzz.sh $(FUZZTIME)

.PHONY: fuzz-ci
fuzz-ci: ## Run each fuzz target briefly, for FUZZTIME_CI (5s), as make test does
	hack/fuzz.sh $(FUZZTIME_CI)

# make test checks the code with the linters first, and runs every fuzz
# target briefly (the seed corpora run with the tests themselves).
test: lint fuzz-ci

.PHONY: lint
lint: ## Check formatting (gofmt), run go vet and golangci-lint
	@unformatted=$$(gofmt -l $$($(GO) list -f '{{.Dir}}' ./...)); \
	if [[ -n $$unformatted ]]; then echo "gofmt would change these files:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	hack/tools.sh golangci-lint
	$(TOOLS_DIR)/golangci-lint run ./...

.PHONY: cover
cover: e2e-tools ## Write a coverage profile (coverage.out, coverage.html) and print the summary
	$(GO) test -count=1 -covermode=atomic -coverprofile=coverage.out ./...
	$(GO) tool cover -html=coverage.out -o coverage.html
	$(GO) tool cover -func=coverage.out | tail -n 1

.PHONY: run
run: build ## Start packyard serve on 127.0.0.1:5000, publish the example packs, list, inspect and pull them
	hack/run.sh

.PHONY: quickstart
quickstart: build ## Lint and build the example packs into out/, then unpack one back
	@echo "==> bin/packyard pack lint $(EXAMPLES)"
	@bin/packyard pack lint $(EXAMPLES)
	@rm -rf $(addprefix out/,$(notdir $(EXAMPLES))) out/unpacked
	@for dir in $(EXAMPLES); do \
		echo; echo "==> bin/packyard pack build $$dir -o out/$${dir##*/}"; \
		bin/packyard pack build "$$dir" -o "out/$${dir##*/}"; \
	done
	@echo; echo "==> bin/packyard pack unpack out/hello-chart out/unpacked/hello-chart"
	@bin/packyard pack unpack out/hello-chart out/unpacked/hello-chart
	@echo; echo "==> diff -r examples/hello-chart out/unpacked/hello-chart"
	@diff -r examples/hello-chart out/unpacked/hello-chart
	@echo "no differences: the unpacked pack is the example, byte for byte"

.PHONY: clean
clean: ## Remove bin/packyard, out/ and coverage files (bin/tools is kept)
	rm -rf bin/packyard out coverage.out coverage.html

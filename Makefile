# binder-projects: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO        ?= go
BIN       ?= bin/binder-projects
FUZZTIME  ?= 60s
E2E_TIMEOUT ?= 75m

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-17s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## Install the Debian packages the tests need (dash, bash, busybox; chromium and its driver; JupyterHub, its proxy and singleuser server), when missing.
	@hack/install-deps.sh dash bash busybox-static chromium chromium-driver jupyterhub node-configurable-http-proxy python3-notebook

# What the real cluster needs from apt (kept equal to e2e/cluster.DebianPackages by a test): busybox for
# the images, libseccomp-dev, gcc and pkg-config for runc, iptables, nftables, conntrack, socat and
# iproute2 for kubelet and CNI, util-linux and e2fsprogs for the loop-mounted small volumes.
E2E_DEBS := busybox-static libseccomp-dev pkg-config gcc libc6-dev iptables nftables conntrack socat iproute2 util-linux e2fsprogs

.PHONY: deps-e2e
deps-e2e: ## Install the Debian packages the real cluster needs, when missing.
	@hack/install-deps.sh $(E2E_DEBS)

.PHONY: build
build: ## Build the binder-projects binary into bin/.
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/binder-projects

IMAGE_DIR  ?= bin/image
IMAGE_NAME ?= ghcr.io/binder-projects/binder-projects

.PHONY: image
image: ## Build the OCI image (linux/amd64, linux/arm64; no Docker, no registry) into IMAGE_DIR as a layout and a tarball; print its digest.
	cd hack/image && $(GO) run . -go '$(GO)' -repo '$(CURDIR)' -out '$(abspath $(IMAGE_DIR))' -name '$(IMAGE_NAME)'

.PHONY: manifests
manifests: ## Render manifests/binder-projects.yaml and projects-service.yaml from the Helm chart (with manifests/plain-values.yaml).
	cd e2e && $(GO) test -count=1 ./chart -run '^TestThePlainYAMLIsTheChartRendered$$' -update

.PHONY: lint
lint: ## gofmt and go vet, in every module.
	@test -z "$$(gofmt -l . )" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	cd e2e && $(GO) vet ./...
	cd hack/image && $(GO) vet ./...
	@# The tool modules hold no code of ours (tools.go imports a program, which vet cannot load): check
	@# that the Helm one is complete and its sums verified, so its cached build cannot break on them.
	cd e2e/tools/helm && $(GO) mod verify && $(GO) list -deps helm.sh/helm/v4/cmd/helm >/dev/null

.PHONY: test-unit
test-unit: deps ## Unit, golden, init-command (package volume, as uid 1000; the previous init.sh under dash and busybox beside it) and served-webhook tests; the image built twice; the Helm chart with the real Helm CLI (no cluster).
	$(GO) test -count=1 ./...
	cd e2e && $(GO) test -count=1 -timeout 30m ./chart
	cd hack/image && $(GO) test -count=1 -timeout 30m ./...

.PHONY: fuzz
fuzz: ## Fuzz the project-folder naming and the init command's report for FUZZTIME each (default 60s).
	$(GO) test ./contract -run '^$$' -fuzz '^FuzzProjectDir$$' -fuzztime $(FUZZTIME)
	$(GO) test ./contract -run '^$$' -fuzz '^FuzzEncode$$' -fuzztime $(FUZZTIME)

.PHONY: test-e2e
test-e2e: deps-e2e ## End-to-end tests on a real single-node cluster (root; builds the cluster's tools once into the cache).
	cd e2e && $(GO) test -count=1 -timeout $(E2E_TIMEOUT) ./...

.PHONY: test
test: lint test-unit ## Everything CI runs: lint, unit tests, a short fuzz pass, end-to-end tests.
	$(MAKE) fuzz FUZZTIME=15s
	$(MAKE) test-e2e

BENCH_COUNT  ?= 5
BENCH_SERVED ?= 2000x

.PHONY: bench
bench: ## Benchmarks, BENCH_COUNT runs each: prints the medians as tables (the webhook served against the framework floor, and in process); the raw output stays in bin/bench.txt.
	@mkdir -p bin
	$(GO) build -o bin/benchreport ./hack/benchreport
	set -o pipefail; { $(GO) test -run '^$$' -bench . -skip '^(BenchmarkServedAgainstFloor|BenchmarkSeedAgainstCpA)$$' -benchmem -count $(BENCH_COUNT) ./... && \
	  $(GO) test -run '^$$' -bench '^BenchmarkServedAgainstFloor$$' -benchtime $(BENCH_SERVED) -count $(BENCH_COUNT) ./webhook; } | tee bin/bench.txt
	@bin/benchreport bin/bench.txt

.PHONY: bench-copy
bench-copy: ## The init command's first copy against cp -a of the same home on the same disk (a fresh loop-mounted ext4; root; about 10 minutes).
	$(GO) test ./volume -run '^$$' -bench '^BenchmarkSeedAgainstCpA$$' -benchtime 1x -count 5 -timeout 60m

.PHONY: bench-report
bench-report: bench ## Run the benchmarks and write section 1 of docs/performance.md and its plots from them.
	bin/benchreport -report docs/performance.md bin/bench.txt > /dev/null

BENCH_E2E_CMD := cd e2e && $(GO) test -count=1 -run '^$$' -bench . -benchtime 1x -timeout 120m .
# The saved outputs of bench-e2e that sections 2-4 of docs/performance.md are drawn from, oldest first
# (a later run of a benchmark replaces an earlier one); the ones missing are skipped.
BENCH_E2E_SAVED ?= docs/performance-e2e-run1.txt docs/performance-e2e-run2.txt docs/performance-e2e-usage.txt docs/performance-e2e-latest.txt

.PHONY: bench-e2e
bench-e2e: deps-e2e ## Benchmarks on the real cluster (issue 10 §2-4: launch latency, copies, a burst, many claims; issue 16: usage reporting's cost); BENCH_E2E_* tune them (e2e/bench_test.go).
	$(BENCH_E2E_CMD)

.PHONY: bench-e2e-report
bench-e2e-report: deps-e2e ## Run bench-e2e, save its output in docs/performance-e2e-latest.txt, and write sections 2-4 of docs/performance.md and their plots from it.
	set -o pipefail; $(BENCH_E2E_CMD) 2>&1 | tee $(CURDIR)/docs/performance-e2e-latest.txt
	$(MAKE) bench-e2e-plots

.PHONY: bench-e2e-plots
bench-e2e-plots: ## Redraw sections 2-4 of docs/performance.md (tables, plots) from the saved bench-e2e outputs (BENCH_E2E_SAVED), no cluster.
	@mkdir -p bin
	$(GO) build -o bin/benchreport ./hack/benchreport
	bin/benchreport -e2e -report docs/performance.md $(foreach f,$(BENCH_E2E_SAVED),$(wildcard $(f)))

.PHONY: demo
demo: deps-e2e ## Start a real local cluster with the webhook and launch BinderHub-shaped pods for two projects.
	cd e2e && $(GO) run ./cmd/e2ecluster demo

.PHONY: demo-down
demo-down: deps-e2e ## Remove everything `make demo` started or made on this machine.
	cd e2e && $(GO) run ./cmd/e2ecluster down

# whycache Makefile. `make help` lists the targets.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

GO        ?= go
BIN       ?= $(CURDIR)/bin
# Servers that `make test` starts on 127.0.0.1 (see hack/testservers).
TEST_SERVERS  ?= mariadb,postgres,s3
BENCH_SERVERS ?= mariadb,postgres,redis,s3
# Flags for the test run; `make test GOTESTFLAGS=-v` for verbose output.
GOTESTFLAGS ?=
TEST_TIMEOUT ?= 40m
E2E_TIMEOUT ?= 20m
# Length of each fuzz target's run in `make test` (FUZZTIME=5m make fuzz for longer).
FUZZTIME ?= 10s
# Number of kill -9 points in the crash tests (`make test-crash` raises it).
CRASH_POINTS ?= 200
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/whycache/whycache/internal/version.Version=$(VERSION)

TESTSERVERS = $(GO) run ./hack/testservers

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: fmt
fmt: ## Format the Go code with gofmt.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

.PHONY: staticcheck
staticcheck: ## Run staticcheck (pinned in go.mod as a tool).
	$(GO) tool staticcheck ./...

.PHONY: tidy-check
tidy-check: ## Fail when `go mod tidy` would change go.mod or go.sum.
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }

.PHONY: portable-check
portable-check: ## Check that the reader side (client library, cache file reader) builds on macOS.
	GOOS=darwin GOARCH=arm64 $(GO) build ./pkg/cachefile/ .
	GOOS=darwin GOARCH=arm64 $(GO) vet ./pkg/cachefile/ .

.PHONY: lint
lint: vet staticcheck tidy-check portable-check verify-generated helm-lint ## gofmt, go vet, staticcheck, go.mod tidiness, the macOS build of the reader side, generated files up to date, the Helm chart.
	@bad=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$bad" ]; then echo "gofmt needed on:"; echo "$$bad"; exit 1; fi

.PHONY: build
build: ## Build the binaries into bin/ (`make vet` compiles every other package).
	mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

##@ Test

.PHONY: test-deps
test-deps: ## Install what the tests need when missing: Debian's MariaDB, PostgreSQL and Redis; etcd, the Kubernetes binaries (kube-apiserver, kubectl, controller-manager, scheduler), versitygw, kwok and helm built once into a cache outside the repository (hack/tools.sh).
	bash hack/install-test-deps.sh
	bash hack/tools.sh build etcd kube versitygw kwok helm

.PHONY: test
test: test-deps lint ## Run every test against real servers (see hack/test.sh), then a short fuzz run of every fuzz target.
	KUBEBUILDER_ASSETS=$${KUBEBUILDER_ASSETS:-$$(bash hack/envtest.sh assets)} \
	CRASH_POINTS=$(CRASH_POINTS) TEST_TIMEOUT=$(TEST_TIMEOUT) GOTESTFLAGS='$(GOTESTFLAGS)' \
		$(TESTSERVERS) -servers=$(TEST_SERVERS) -- bash hack/test.sh
	FUZZTIME=$(FUZZTIME) bash hack/fuzz.sh

.PHONY: test-e2e
test-e2e: test-deps ## The end-to-end test on a real control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok) with the operator installed and its agents and Jobs run as processes (test/cluster; a few minutes).
	WHYCACHE_E2E_CLUSTER=1 $(TESTSERVERS) -servers=mariadb,s3 -- \
		$(GO) test -count=1 -timeout $(E2E_TIMEOUT) -v $(GOTESTFLAGS) ./test/cluster/

.PHONY: test-long
test-long: test-deps ## The full-size runs: the SQL stores' ordering proof (16 writers x 10,000 updates, ~10 min) without -race.
	$(TESTSERVERS) -servers=$(TEST_SERVERS) -- bash hack/test-long.sh

.PHONY: test-crash
test-crash: ## Run the crash tests with thousands of kill -9 points.
	CRASH_POINTS=5000 $(TESTSERVERS) -servers=$(TEST_SERVERS) -- \
		$(GO) test -count=1 -timeout 2h -run 'Crash' $(GOTESTFLAGS) ./...

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 10s).
	FUZZTIME=$(FUZZTIME) bash hack/fuzz.sh

##@ Benchmark

.PHONY: bench
bench: test-deps ## Run every benchmark against its peers and print the comparison tables.
	$(TESTSERVERS) -servers=$(BENCH_SERVERS) -- bash hack/bench.sh

# The fan-in of N simulated nodes (one store each, as node agents hold) on one
# MariaDB and one PostgreSQL server: connections, CPU and queries per second,
# idle and at 100 writes/s, and write -> applied on all N, as a markdown table.
# About 15 minutes on 2 cores per store (each N: open the stores, 3 s settle,
# 15 s idle, 10 s of writes), twice that with relays. The servers allow
# SCALE_MAX_CONNECTIONS connections: a PostgreSQL store holds two (its pool
# and its LISTEN connection), so 1,000 nodes need 2,000. SCALE_RELAYS=N also
# measures through N `whycache relay` processes in front of each database.
# SCALE_FLAGS go to `whycache-logbench scale` (-nodes=10,100, -direct=false).
SCALE_MAX_CONNECTIONS ?= 2100
SCALE_RELAYS ?= 0
SCALE_FLAGS ?=

.PHONY: bench-scale
bench-scale: ## Measure the database fan-in of 10, 100, 300 and 1,000 simulated nodes (~15 min a store; not part of bench or test).
	bash hack/install-test-deps.sh
	mkdir -p $(BIN)
	$(GO) build -o $(BIN)/whycache ./cmd/whycache
	$(TESTSERVERS) -servers=mariadb,postgres -max-connections=$(SCALE_MAX_CONNECTIONS) -- \
		$(GO) run ./cmd/whycache-logbench scale -relays=$(SCALE_RELAYS) -whycache=$(BIN)/whycache $(SCALE_FLAGS)

##@ Packaging (the image, the Helm chart)

IMG ?= ghcr.io/whycache/whycache:$(VERSION)
CONTAINER_TOOL ?= $(shell command -v docker || command -v podman || command -v buildah)
IMAGE_ROOTFS ?= $(CURDIR)/out/rootfs

.PHONY: docker-build
docker-build: ## Build the image IMG (default ghcr.io/whycache/whycache:VERSION) with docker (BuildKit), podman or buildah (CONTAINER_TOOL).
	@if [ -z "$(CONTAINER_TOOL)" ]; then echo "docker-build: no docker, podman or buildah found (set CONTAINER_TOOL); make image-rootfs builds the image's filesystem without one"; exit 1; fi
	DOCKER_BUILDKIT=1 $(CONTAINER_TOOL) build --build-arg VERSION=$(VERSION) -t $(IMG) .

.PHONY: image-rootfs
image-rootfs: ## Build the image's filesystem without a container engine into IMAGE_ROOTFS (out/rootfs) and IMAGE_ROOTFS.tar (hack/imagerootfs; test/image checks it).
	$(GO) run ./hack/imagerootfs -out $(IMAGE_ROOTFS) -tar $(IMAGE_ROOTFS).tar -ldflags '$(LDFLAGS)'

.PHONY: helm-lint
helm-lint: ## helm lint --strict and helm template of charts/whycache with several value sets (helm built once by hack/tools.sh).
	bash hack/helm-lint.sh

##@ Operator (API, CRDs, RBAC; controller-gen is pinned in go.mod's tool directive)

CONTROLLER_GEN = $(GO) tool controller-gen

.PHONY: generate
generate: ## Generate the API's deepcopy methods (api/v1alpha1/zz_generated.deepcopy.go).
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: manifests
manifests: ## Generate the CRDs (config/crd/bases), the manager's RBAC roles (config/rbac/role.yaml) and the pod webhook's configuration (config/webhook/manifests.yaml) from the markers, and copy the CRDs and RBAC rules into the Helm chart (hack/chartgen).
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=whycache-operator paths=./controllers/... paths=./internal/webhook/... output:rbac:artifacts:config=config/rbac
	$(CONTROLLER_GEN) webhook paths=./internal/webhook/... output:webhook:artifacts:config=config/webhook
	$(GO) run ./hack/chartgen -config config -chart charts/whycache

.PHONY: verify-generated
verify-generated: generate manifests ## Fail when the generated files differ from what is committed.
	@git diff --exit-code -- api config charts || { echo "generated files are stale: run make generate manifests and commit"; exit 1; }
	@new=$$(git ls-files --others --exclude-standard -- api config charts); if [ -n "$$new" ]; then echo "generated files not committed: $$new"; exit 1; fi

.PHONY: envtest-assets
envtest-assets: ## Build (once) etcd and kube-apiserver for the envtest suites and print KUBEBUILDER_ASSETS.
	@bash hack/envtest.sh assets

.PHONY: test-operator
test-operator: ## Run the operator's tests (envtest: a real kube-apiserver and etcd).
	KUBEBUILDER_ASSETS=$$(bash hack/envtest.sh assets) $(GO) test -race -count=1 $(GOTESTFLAGS) ./api/... ./controllers/... ./internal/webhook/... ./cmd/whycache-operator/... ./test/layering/...

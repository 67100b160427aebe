# Sprechzimmer: operator, signaling server, front door, TURN server.
#
# Tools are pinned and run through the Go toolchain; the envtest control plane
# (kube-apiserver, etcd) is built from the Go module proxy by hack/envtest-bins.sh.
# Images are built without a Docker daemon by hack/build-images.sh (`make images`).

CONTROLLER_GEN ?= go run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0
GOLANGCI_LINT  ?= bin/golangci-lint
ENVTEST_BINS   := hack/envtest-bins.sh
KCM_BIN        := hack/kube-bins.sh bin/kube kube-controller-manager
KUBE_BINS      := hack/kube-bins.sh bin/kube kube-controller-manager kubelet kube-scheduler kube-proxy kubectl
GO_TEST_FLAGS  ?= -count=1 -timeout=40m
NODE_TEST_PKG  := github.com/sprechzimmer/sprechzimmer/test/node

.PHONY: all
all: build

##@ Development

.PHONY: generate
generate: ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths="./api/..."

.PHONY: manifests
manifests: ## Generate the CRD, RBAC and webhook manifests from markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd webhook paths="./api/...;./controllers/...;./webhook/..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac output:webhook:artifacts:config=config/webhook
# The operator's cluster-scoped rules, apart: bound cluster-wide even when
# manager-role is bound only in the watched namespaces (docs/permissions.md).
	$(CONTROLLER_GEN) rbac:roleName=manager-cluster-role paths="./internal/operator/..." output:rbac:artifacts:config=config/rbac/cluster

.PHONY: verify-gen
verify-gen: generate manifests ## Fail when generated code, manifests or the Helm chart are not current.
	@git diff --exit-code -- api config || { echo "generated files are stale: run 'make generate manifests' and commit"; exit 1; }
	$(MAKE) verify-chart

.PHONY: chart
chart: kube ## Generate the Helm chart's templates (charts/sprechzimmer) from the kustomize build of config/ (hack/chart).
	go run ./hack/chart

.PHONY: verify-chart
verify-chart: kube ## Fail when the Helm chart is stale against config/.
	go run ./hack/chart -check

.PHONY: verify-tidy
verify-tidy: ## Fail when go.mod or go.sum are not what go mod tidy makes of them.
	@go mod tidy -diff || { echo "go.mod is not tidy: run 'go mod tidy' and commit"; exit 1; }

.PHONY: fmt
fmt: ## gofmt the tree.
	gofmt -l -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## go vet.
	go vet ./...

.PHONY: helm
helm: ## Build Helm from the Go module proxy into bin/helm (once; hack/helm.sh).
	hack/helm.sh

# kube-api-linter (sigs.k8s.io/kube-api-linter, no releases yet: a pinned
# pseudo-version) in its standalone form: golangci-lint with the linter
# built in as a module plugin.
KAL_VERSION ?= v0.0.0-20260716143926-092fe0c72997
bin/golangci-lint-kube-api-linter:
	GOBIN=$(CURDIR)/bin go install sigs.k8s.io/kube-api-linter/cmd/golangci-lint-kube-api-linter@$(KAL_VERSION)

.PHONY: lint-api
lint-api: bin/golangci-lint-kube-api-linter ## kube-api-linter over api/ with its default linters (.golangci-kal.yml says why any is off).
	bin/golangci-lint-kube-api-linter run --allow-parallel-runners -c .golangci-kal.yml ./api/...

bin/golangci-lint:
	GOBIN=$(CURDIR)/bin go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0

.PHONY: lint
lint: bin/golangci-lint ## golangci-lint (pinned, built through the Go toolchain) with the linters in .golangci.yml.
	$(GOLANGCI_LINT) run ./...

.PHONY: web-deps
web-deps: ## Install web/'s pinned npm devDependencies (TypeScript, axe-core for the browser tests) from package-lock.json.
	npm --prefix web ci --no-audit --no-fund

.PHONY: typecheck
typecheck: web-deps ## Type-check the browser modules (// @ts-check, JSDoc) with the pinned TypeScript in web/: tsc --noEmit.
	web/node_modules/.bin/tsc -p web

.PHONY: envtest
envtest: ## Build kube-apiserver and etcd for envtest into bin/envtest (once).
	$(ENVTEST_BINS)

.PHONY: controller-manager
controller-manager: ## Build kube-controller-manager into bin/kube (once): the garbage collector of make run and its test.
	$(KCM_BIN)

.PHONY: kube
kube: ## Build kube-controller-manager, kubelet, kube-scheduler, kube-proxy and kubectl into bin/kube (once).
	$(KUBE_BINS)

.PHONY: cluster-up
cluster-up: kube ## Start a real single-node cluster here (root; docs/cluster.md); prints the admin kubeconfig's path.
	$(ENVTEST_BINS) >/dev/null
	hack/cluster-up.sh

.PHONY: cluster-down
cluster-down: ## Stop the single-node cluster and remove everything it left on the host.
	hack/cluster-down.sh

.PHONY: prometheus-crds
prometheus-crds: ## Fetch the Prometheus Operator's ServiceMonitor, PodMonitor and PrometheusRule CRDs into bin/ (once; test/monitoring).
	hack/prometheus-operator-crds.sh >/dev/null

.PHONY: test
test: envtest kube images addons helm prometheus-crds web-deps ## Run all tests: unit, envtest, pion, TURN (coturn), browser (Chromium, Firefox ESR, axe-core) and the real node (test/node, as root).
# The real node (kubelet, containerd, a control plane) runs after the others,
# not beside the browser tests: together they kept two cores at a load of
# 20-30, where a browser's encoder took seconds to start after a network
# change (docs/benchmarks.md, "The real node beside the browsers"). Both
# runs go to the end; either failing fails the target.
	@assets="$$($(ENVTEST_BINS))"; status=0; \
	KUBEBUILDER_ASSETS="$$assets" go test $(GO_TEST_FLAGS) $$(go list ./... | grep -vx '$(NODE_TEST_PKG)') || status=$$?; \
	KUBEBUILDER_ASSETS="$$assets" go test $(GO_TEST_FLAGS) $(NODE_TEST_PKG) || status=$$?; \
	exit $$status

##@ Benchmarks (programs in test/bench/<name>; what each measures and the figures: docs/benchmarks.md)

.PHONY: bench
bench: envtest ## Operator benchmark against envtest: provisioning and expiry at N=100 and N=1000.
	KUBEBUILDER_ASSETS="$$($(ENVTEST_BINS))" go run ./test/bench/operator

.PHONY: bench-signaling
bench-signaling: ## Signaling benchmark: join latency with pion peers, relay latency, RSS, exec to ready.
	go run ./test/bench/signaling

.PHONY: bench-room-footprint
bench-room-footprint: ## Room footprint: cmd/signaling's size built like its image, idle RSS/PSS of 20 fresh room processes.
	go run ./test/bench/signaling -footprint 20

.PHONY: bench-flood
bench-flood: envtest ## Flood benchmark: 10,000 WebSockets without hello against a room process and through the front door; a real pair joins during it.
	go run ./test/bench/signaling -flood 10000
	KUBEBUILDER_ASSETS="$$($(ENVTEST_BINS))" go test -run '^$$' -bench Flood -benchtime 1x ./frontdoor

.PHONY: bench-browser
bench-browser: web-deps ## Browser benchmark: click "enter" to the first decoded remote frame, Chromium<->Chromium, Firefox<->Chromium and Firefox<->Firefox, 20 runs each (p50/p95, load average).
	go test -run '^$$' -bench EnterToVideo -benchtime 20x -timeout 60m ./test/e2e

.PHONY: bench-recovery
bench-recovery: web-deps ## Network-change benchmark: the client's path moves or drops mid-call, time until video flows again after the ICE restart, Chromium and Firefox, 20 runs each (p50/p95).
	go test -run '^$$' -bench NetworkChange -benchtime 20x -timeout 60m ./test/e2e

.PHONY: bench-turn
bench-turn: ## TURN benchmark: own server against coturn, throughput, latency, allocations/s.
	go run ./test/bench/turn

.PHONY: bench-node
bench-node: envtest kube images addons ## Real-node benchmark (root): room opening to Pod Ready (20 in a row, 100 at once), memory per room, rooms per node.
	go run ./test/bench/node

##@ Build

.PHONY: build
build: ## Build all binaries into bin/.
	go build -o bin/ ./cmd/...

.PHONY: images
images: ## Build the four binaries and pause statically for linux/amd64 and linux/arm64; pack bin/images/<name>.tar (ghcr.io/sprechzimmer/<name>:<VERSION>).
	hack/build-images.sh

.PHONY: release
release: kube ## Build release VERSION=vX.Y.Z into dist/: multi-arch images, install.yaml, the Helm chart package, an SPDX SBOM per image; then check them (docs/release.md).
	@test -n "$(VERSION)" || { echo "usage: make release VERSION=vX.Y.Z"; exit 1; }
	VERSION=$(VERSION) $(if $(DIST),DIST=$(DIST)) hack/release.sh

.PHONY: verify-images
verify-images: images ## Fail unless a second build from the same source gives the same image digests.
	rm -rf bin/tmp/verify-images
	OUT=bin/tmp/verify-images/images BUILD=bin/tmp/verify-images/build hack/build-images.sh >/dev/null
	diff bin/images/digests.txt bin/tmp/verify-images/images/digests.txt
	rm -rf bin/tmp/verify-images
	@echo "images are reproducible: the same digests twice"

.PHONY: run
run: envtest controller-manager ## Run the whole product locally: API server, garbage collector, operator, rooms, front door, TURN, a demo session. LAN=1: over HTTPS on the LAN, for a phone.
	go run ./cmd/dev $(if $(LAN),-lan)

##@ Cluster add-ons (built from the Go module proxy; docs/addons.md)

.PHONY: addons
addons: ## CoreDNS and cert-manager: binaries (bin/addons), images (bin/images), cert-manager.yaml (bin/addons).
	hack/addon-images.sh
	hack/cert-manager-yaml.sh

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-12s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

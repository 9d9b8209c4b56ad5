# The README's two commands: `make demo` (a local node running mesh-cni, OSM's
# injector and a meshed pod, and what to look at)
# and `make test` (every test tier that runs on this machine).
GO      ?= go
BIN     := bin
export CGO_ENABLED ?= 0

.PHONY: all build demo demo-down test unit fuzz bench image clean

# WITH_TOOLS builds (or finds in its cache) Kubernetes, the CNI plugins and,
# on a machine with no kubectl, kubectl; then puts that kubectl last on
# PATH, so that an installed one still wins. build.sh's last lines say where
# things are; asking it twice costs a fraction of a second when warm.
WITH_TOOLS = bash test/tools/build.sh && \
	KUBE_BIN_DIR=$$(bash test/tools/build.sh 2>/dev/null | sed -n 's/^KUBE_BIN_DIR=//p') && \
	export PATH="$$PATH:$$KUBE_BIN_DIR"
all: build

build:
	$(GO) build -trimpath -ldflags "-s -w" -o $(BIN)/ ./cmd/...

# The main job on this machine (root): test/cluster's single node (started,
# or reused when an earlier run left it up), mesh-cni from `kubectl apply -k
# deploy/` as is, OSM v1.2.4's real injector, a meshed pod and what to look
# at (test/demo). The first run builds Kubernetes into the tools cache (10+
# minutes, with progress). `make demo-down` stops it all and leaves the host
# as it found it.
demo:
	$(GO) run ./test/demo up

demo-down:
	$(GO) run ./test/demo down

# Everything: static checks, unit and golden tests, a short fuzz run, kernel
# tests in network namespaces (root), integration tests against a real
# kube-apiserver, and the end-to-end suite on a real single node started on
# this machine, then `make demo` end to end (test/demo, after the suite has
# torn its node down: the two never hold the node at once), and last the
# same suite on kind (`make kind`). Kernel and
# cluster tests fail - never skip - when they cannot run.
# Packages run one at a time (-p 1): several change host state (the node's
# /opt/cni, /run/mesh-cni, iptables) and check that they leave it as found.
test: fuzz
	$(GO) vet ./...
	$(GO) vet -tags e2e ./test/e2e/ ./test/demo/
	$(GO) vet -tags 'e2e kind' ./test/e2e/
	$(WITH_TOOLS) && $(GO) test -p 1 -count=1 -timeout 40m ./... && $(GO) test -tags e2e -count=1 -timeout 40m -v ./test/e2e/ && \
		$(GO) test -tags e2e -count=1 -timeout 30m -v ./test/demo/ && \
		bash test/e2e/kind.sh

unit:
	$(GO) test -count=1 ./internal/rules/ ./cmd/...

# A count, not a duration: when a -fuzztime duration runs out mid-input, go
# test can fail the run with "context deadline exceeded" (seen in CI here).
# The parsers of outside input (docs/reliability.md), each for a count that
# takes a few seconds here; minimizing a new input is bounded by a count
# too, so that no one input can hold the run up for a minute.
FUZZ_RUN = $(GO) test -run '^$$' -fuzzminimizetime 2000x
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParseLists$$' -fuzztime 200000x ./internal/rules/
	$(GO) test -run '^$$' -fuzz '^FuzzParseOSMInit$$' -fuzztime 80000x ./internal/rules/
	$(FUZZ_RUN) -fuzz '^FuzzParseSave$$' -fuzztime 100000x ./internal/rules/
	$(FUZZ_RUN) -fuzz '^FuzzDumpListing$$' -fuzztime 200000x ./internal/rules/nftables/
	$(FUZZ_RUN) -fuzz '^FuzzParseConf$$' -fuzztime 200000x ./internal/cni/
	$(FUZZ_RUN) -fuzz '^FuzzPrevResult$$' -fuzztime 150000x ./internal/cni/
	$(FUZZ_RUN) -fuzz '^FuzzParseArgs$$' -fuzztime 150000x ./internal/cni/
	$(FUZZ_RUN) -fuzz '^FuzzMeshSettings$$' -fuzztime 100000x ./internal/meshsettings/
	$(FUZZ_RUN) -fuzz '^FuzzKubeconfig$$' -fuzztime 100000x ./internal/kube/
	$(FUZZ_RUN) -fuzz '^FuzzInstallRoundTrip$$' -fuzztime 50000x ./internal/install/chain/
	$(FUZZ_RUN) -fuzz '^FuzzParse$$' -fuzztime 100000x ./internal/install/entry/

bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./internal/rules/
	$(GO) test -run '^$$' -bench . -benchtime 1x ./internal/rules/apply/ ./internal/rules/nftables/

clean:
	rm -rf $(BIN)

# Benchmarks beside the osm-init init container (root, about 10 minutes
# warm): writes docs/benchmarks.md and docs/benchmarks.png.
.PHONY: bench-report
bench-report:
	bash test/tools/build.sh
	$(GO) run ./test/bench -out docs

# The end-to-end suite (build tag e2e): a real single node started on this
# machine (root), `kubectl apply -k deploy/` as is, meshed pods and real
# traffic, and every command of docs/troubleshooting.md and .ja.md run and
# checked, then `make demo` end to end (test/demo). test/e2e/kind.sh runs
# the suite (not the demo) on kind.
.PHONY: e2e
e2e:
	$(WITH_TOOLS) && $(GO) test -tags e2e -count=1 -timeout 40m -v ./test/e2e/ && \
		$(GO) test -tags e2e -count=1 -timeout 30m -v ./test/demo/

# The e2e suite (TestE2E) on a one-node kind cluster (test/e2e/kind.sh, root
# with podman): kind v0.33.0 and a node image built here from Debian's
# packages and the module proxy (test/tools/kind-node-image.sh, cached in
# the tools cache), podman from apt (or a docker daemon that already runs),
# and the host checked to be as it was before. See README.md, "kind tier".
.PHONY: kind
kind:
	bash test/e2e/kind.sh

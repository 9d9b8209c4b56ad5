# The README's two commands: `make demo` (build and show what mesh-cni does)
# and `make test` (every test tier that runs on this machine).
GO      ?= go
BIN     := bin
export CGO_ENABLED ?= 0

.PHONY: all build demo test unit fuzz bench image clean

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

# A tour of the render CLI on the troubleshooting guide's three scenarios.
demo: build
	@echo '# 1. the default rules (the guide: "redirection not working")'
	$(BIN)/mesh-cni render
	@echo
	@echo '# 2. outbound IP range exclusions, as osm-config spells them'
	$(BIN)/mesh-cni render --outbound-ip-range-exclusion-list "1.1.1.1/32, 2.2.2.2/24"
	@echo
	@echo '# 3. outbound port exclusions: global 6379,7070 and the pod annotation 8080'
	$(BIN)/mesh-cni render --outbound-port-exclusion-list "6379, 7070, 8080"
	@echo
	@echo '# the iptables-restore document mesh-cni applies for OSM v1.x, IPv6'
	$(BIN)/mesh-cni render --profile osm-v1 --format restore --ipv6
	@echo
	@echo '# a mistake names the flag and the value (exit status 2)'
	-$(BIN)/mesh-cni render --outbound-port-exclusion-list "6379, 70000"

# Everything: static checks, unit and golden tests, a short fuzz run, kernel
# tests in network namespaces (root), integration tests against a real
# kube-apiserver, and the end-to-end suite on a real single node started on
# this machine. Kernel and cluster tests fail - never skip - when they cannot run.
# Packages run one at a time (-p 1): several change host state (the node's
# /opt/cni, /run/mesh-cni, iptables) and check that they leave it as found.
test: fuzz
	$(GO) vet ./...
	$(GO) vet -tags e2e ./test/e2e/
	$(WITH_TOOLS) && $(GO) test -p 1 -count=1 -timeout 40m ./... && $(GO) test -tags e2e -count=1 -timeout 40m -v ./test/e2e/

unit:
	$(GO) test -count=1 ./pkg/rules/ ./cmd/...

# A count, not a duration: when a -fuzztime duration runs out mid-input, go
# test can fail the run with "context deadline exceeded" (seen in CI here).
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParseLists$$' -fuzztime 200000x ./pkg/rules/
	$(GO) test -run '^$$' -fuzz '^FuzzParseOSMInit$$' -fuzztime 80000x ./pkg/rules/

bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./pkg/rules/

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
# checked. test/e2e/kind.sh runs the same suite on kind.
.PHONY: e2e
e2e:
	$(WITH_TOOLS) && $(GO) test -tags e2e -count=1 -timeout 40m -v ./test/e2e/

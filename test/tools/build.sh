#!/usr/bin/env bash
# build.sh: builds (once) and caches the third-party binaries the integration and
# e2e suites run: Kubernetes v1.33.13 server binaries, the CNI reference plugins,
# the static pause binary, OSM v1.2.4's injector with its CRDs, and Helm v3.22.0
# (charts/mesh-cni's tests). Idempotent; concurrent runs serialise on a flock.
#
# Usage: test/tools/build.sh   (env: MESH_CNI_CACHE, default ~/.cache/mesh-cni-e2e)
# On success the last lines are KEY=VALUE pairs (test/cluster parses them):
#   KUBE_BIN_DIR=... CNI_BIN_DIR=... PAUSE_BIN=... OSM_DIR=... HELM_BIN=... CACHE_DIR=...
# kubectl: the one on PATH, else one built into KUBE_BIN_DIR.
set -euo pipefail

K8S=v1.33.13          # v1.32.x cannot be built: the proxy refuses some staging modules
STAGING=v0.33.13
CNI_PLUGINS=v1.9.1
OSM=v1.2.4            # the last release; the proxy resolves this exact version only
HELM=v3.22.0
HELM_KUBE=1.37        # Helm's release build: 1.<minor of its k8s.io/client-go, v0.37>
KUBE_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
CNI_CMDS=(main/bridge ipam/host-local main/loopback meta/portmap)
APT_PKGS=(etcd-server etcd-client containerd runc containernetworking-plugins busybox-static openssl iptables iproute2 gcc libc6-dev)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${MESH_CNI_CACHE:-$HOME/.cache/mesh-cni-e2e}
KUBE_DIR=$CACHE/kubernetes-$K8S
CNI_DIR=$CACHE/cni-plugins-$CNI_PLUGINS
PAUSE_DIR=$CACHE/pause
OSM_DIR=$CACHE/osm-$OSM
HELM_DIR=$CACHE/helm-$HELM

log() { echo "build.sh: $*" >&2; }
die() { echo "build.sh: FAILED: $*" >&2; exit 1; }
trap 'rc=$?; [ $rc -eq 0 ] || echo "build.sh: FAILED (exit $rc) at line $LINENO" >&2' EXIT

mkdir -p "$CACHE"
exec 9>"$CACHE/build.lock"
if ! flock -n 9; then
  log "waiting for another build.sh holding $CACHE/build.lock"
  flock 9
fi

# counted LABEL DIR PKG...: go build -v of the packages in the module DIR (the
# caller's flags in BUILD_FLAGS), with a line every 20 seconds saying how far
# it is - packages compiled of those it needs, time so far - instead of minutes
# of silence. Other output (compile errors) goes through.
counted() {
  local label=$1 dir=$2 total t0=$SECONDS last=$SECONDS n=0 line rc
  shift 2
  total=$(cd "$dir" && GOWORK=off GOFLAGS=-mod=mod go list -deps "$@" 2>/dev/null | grep -c .) || total='?'
  log "$label: compiling up to $total packages (the standard library's included; those already in Go's build cache are skipped)"
  set +o pipefail
  (cd "$dir" && GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 go build -v "${BUILD_FLAGS[@]}" "$@" 2>&1; echo "exit $?") | while :; do
    if IFS= read -r -t 5 line; then
      case $line in
        'exit '*) rc=${line#exit }; log "$label: $n packages compiled in $((SECONDS - t0))s"; exit "$rc" ;;
        *' '* | '#'*) echo "$line" >&2 ;;
        *) n=$((n + 1)) ;;
      esac
    elif [ $? -le 128 ]; then
      exit 1 # the build's output ended without its exit line
    fi
    if ((SECONDS - last >= 20)); then
      log "$label: $n/$total packages compiled, $((SECONDS - t0))s so far"
      last=$SECONDS
    fi
  done
  rc=${PIPESTATUS[1]}
  set -o pipefail
  return "$rc"
}

# stamped DIR VERSION: the stamp is written last, so a half-done build is redone.
stamped() { [ -f "$1/stamp" ] && [ "$(cat "$1/stamp")" = "$2" ]; }

ensure_apt() {
  local missing=()
  for p in "${APT_PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing apt packages (${missing[*]}) and not root"
  log "apt-get install ${missing[*]}"
  apt-get update -qq || die "apt-get update"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]}"
}

# The kubernetes module cannot be required directly (its go.mod points staging
# modules at ./staging), so a throwaway module replaces each with its release.
write_kube_module() {
  local mod=$1 gomodcache k8smod
  mkdir -p "$mod"
  gomodcache=$(go env GOMODCACHE)
  (cd "$mod" && GOWORK=off go mod download -json "k8s.io/kubernetes@$K8S" >/dev/null) || die "go mod download k8s.io/kubernetes@$K8S"
  k8smod=$gomodcache/cache/download/k8s.io/kubernetes/@v/$K8S.mod
  [ -f "$k8smod" ] || die "no $k8smod after download"
  {
    echo 'module meshcni.local/kbuild'
    echo 'go 1.24.0'
    echo 'godebug default=go1.24'
    echo "require k8s.io/kubernetes $K8S"
    echo 'replace ('
    for m in $(grep -E '^\s*k8s.io/.* => \./staging' "$k8smod" | awk '{print $1}'); do
      case $m in
        k8s.io/code-generator) v=v0.33.0 ;;
        k8s.io/sample-apiserver) v=v0.33.3 ;;
        k8s.io/sample-*) continue ;;
        *) v=$STAGING ;;
      esac
      echo "  $m => $m $v"
    done
    echo ')'
  } >"$mod/go.mod"
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for c in "${KUBE_CMDS[@]}" kubectl; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c"; done
    printf ')\n'
  } >"$mod/tools.go"
  (cd "$mod" && GOWORK=off go mod tidy) || die "go mod tidy in $mod"
}

ensure_kube_module() {
  [ -f "$1/go.sum" ] && grep -q "cmd/kubectl\"" "$1/tools.go" 2>/dev/null || write_kube_module "$1"
}

build_kube() {
  stamped "$KUBE_DIR" "$K8S" && return 0
  local mod=$KUBE_DIR/module t0=$SECONDS pkgs=() V=k8s.io/component-base/version
  log "kubernetes $K8S: downloading its modules (a few minutes on a cold module cache)"
  ensure_kube_module "$mod"
  for c in "${KUBE_CMDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  log "building kubernetes $K8S (${KUBE_CMDS[*]}) - cold this takes 10+ minutes"
  rm -rf "$KUBE_DIR/bin.tmp" && mkdir -p "$KUBE_DIR/bin.tmp"
  # One go build for all five so they share compiled packages.
  BUILD_FLAGS=(-trimpath -ldflags "-s -w -X $V.gitVersion=$K8S -X $V.gitMajor=1 -X $V.gitMinor=33 -X $V.gitTreeState=clean"
    -o "$KUBE_DIR/bin.tmp/")
  counted "kubernetes $K8S" "$mod" "${pkgs[@]}" || die "go build kubernetes $K8S"
  for c in "${KUBE_CMDS[@]}"; do [ -x "$KUBE_DIR/bin.tmp/$c" ] || die "missing $c after build"; done
  rm -rf "$KUBE_DIR/bin" && mv "$KUBE_DIR/bin.tmp" "$KUBE_DIR/bin"
  echo "$K8S" >"$KUBE_DIR/stamp"
  log "kubernetes $K8S built in $((SECONDS - t0))s"
}

# kubectl is only built where none is installed (the suites prefer the
# distribution's); same module, so it reuses the build cache of the others.
build_kubectl() {
  command -v kubectl >/dev/null && return 0
  [ -x "$KUBE_DIR/bin/kubectl" ] && return 0
  local V=k8s.io/component-base/version
  ensure_kube_module "$KUBE_DIR/module"
  log "no kubectl on PATH: building kubectl $K8S into $KUBE_DIR/bin"
  (cd "$KUBE_DIR/module" && GOWORK=off CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X $V.gitVersion=$K8S -X $V.gitMajor=1 -X $V.gitMinor=33 -X $V.gitTreeState=clean" \
    -o "$KUBE_DIR/bin/kubectl.tmp" k8s.io/kubernetes/cmd/kubectl) || die "go build kubectl $K8S"
  mv "$KUBE_DIR/bin/kubectl.tmp" "$KUBE_DIR/bin/kubectl"
}

build_cni() {
  stamped "$CNI_DIR" "$CNI_PLUGINS" && return 0
  local pkgs=()
  for c in "${CNI_CMDS[@]}"; do pkgs+=("github.com/containernetworking/plugins/plugins/$c@$CNI_PLUGINS"); done
  log "building CNI plugins $CNI_PLUGINS"
  rm -rf "$CNI_DIR/bin.tmp" && mkdir -p "$CNI_DIR/bin.tmp"
  (cd "$CACHE" && GOWORK=off GOBIN="$CNI_DIR/bin.tmp" CGO_ENABLED=0 go install -trimpath "${pkgs[@]}") \
    || die "go install CNI plugins $CNI_PLUGINS"
  for c in "${CNI_CMDS[@]}"; do [ -x "$CNI_DIR/bin.tmp/${c#*/}" ] || die "missing ${c#*/} after build"; done
  rm -rf "$CNI_DIR/bin" && mv "$CNI_DIR/bin.tmp" "$CNI_DIR/bin"
  echo "$CNI_PLUGINS" >"$CNI_DIR/stamp"
}

build_pause() {
  local sum
  sum=$(sha256sum "$HERE/pause.c" | cut -c1-16)
  stamped "$PAUSE_DIR" "$sum" && return 0
  command -v gcc >/dev/null || die "gcc not found (needed for the static pause binary)"
  mkdir -p "$PAUSE_DIR"
  gcc -static -Os -s -o "$PAUSE_DIR/pause.tmp" "$HERE/pause.c" || die "gcc pause.c"
  mv "$PAUSE_DIR/pause.tmp" "$PAUSE_DIR/pause"
  echo "$sum" >"$PAUSE_DIR/stamp"
}

# OSM's injector, run by the e2e suite as a host process. The proxy refuses
# the module's version list (so @latest and go install fail) but serves the
# exact version to a module that requires it. Its CRDs come from the same
# module: the injector waits for informers of all of them.
build_osm() {
  stamped "$OSM_DIR" "$OSM" && return 0
  local mod=$OSM_DIR/module t0=$SECONDS src
  log "building OSM $OSM's osm-injector - cold this takes about 5 minutes"
  rm -rf "$OSM_DIR/bin.tmp" && mkdir -p "$mod" "$OSM_DIR/bin.tmp"
  printf 'module meshcni.local/osmbuild\n\ngo 1.24.0\n\nrequire github.com/openservicemesh/osm %s\n' "$OSM" >"$mod/go.mod"
  BUILD_FLAGS=(-trimpath -ldflags "-s -w" -o "$OSM_DIR/bin.tmp/osm-injector")
  counted "osm-injector $OSM" "$mod" github.com/openservicemesh/osm/cmd/osm-injector || die "go build osm-injector $OSM"
  src=$(cd "$mod" && GOWORK=off GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' github.com/openservicemesh/osm) || die "locating the osm module"
  mkdir -p "$OSM_DIR/bin.tmp/crds" && cp "$src"/cmd/osm-bootstrap/crds/*.yaml "$OSM_DIR/bin.tmp/crds/" || die "copying OSM's CRDs"
  chmod u+w "$OSM_DIR/bin.tmp/crds/"*.yaml
  rm -rf "$OSM_DIR/bin" && mv "$OSM_DIR/bin.tmp" "$OSM_DIR/bin"
  echo "$OSM" >"$OSM_DIR/stamp"
  log "osm-injector $OSM built in $((SECONDS - t0))s"
}

# Helm, for charts/mesh-cni's tests (lint, template, install on the e2e
# node). Its module builds with go install at an exact version.
# The -X flags are those of Helm's own release build: its version, and the
# Kubernetes version `helm template` and `helm lint` assume (1.<client-go
# minor>; without them v1.20, which the chart's kubeVersion refuses).
build_helm() {
  local stamp="$HELM kube$HELM_KUBE" t0=$SECONDS v=helm.sh/helm/v3
  stamped "$HELM_DIR" "$stamp" && return 0
  log "building helm $HELM - cold this takes a minute or two"
  rm -rf "$HELM_DIR/bin.tmp" && mkdir -p "$HELM_DIR/bin.tmp"
  (cd "$CACHE" && GOWORK=off GOBIN="$HELM_DIR/bin.tmp" CGO_ENABLED=0 go install -trimpath \
    -ldflags "-s -w -X $v/internal/version.version=$HELM -X $v/internal/version.gitTreeState=clean
      -X $v/pkg/chartutil.k8sVersionMajor=${HELM_KUBE%.*} -X $v/pkg/chartutil.k8sVersionMinor=${HELM_KUBE#*.}
      -X $v/pkg/lint/rules.k8sVersionMajor=${HELM_KUBE%.*} -X $v/pkg/lint/rules.k8sVersionMinor=${HELM_KUBE#*.}" \
    "$v/cmd/helm@$HELM") || die "go install helm $HELM"
  [ -x "$HELM_DIR/bin.tmp/helm" ] || die "missing helm after build"
  rm -rf "$HELM_DIR/bin" && mv "$HELM_DIR/bin.tmp" "$HELM_DIR/bin"
  echo "$stamp" >"$HELM_DIR/stamp"
  log "helm $HELM built in $((SECONDS - t0))s"
}

case "${1:-all}" in
  all) ensure_apt; build_cni; build_pause; build_kube; build_kubectl; build_osm; build_helm ;;
  kube) build_kube ;;
  osm) build_osm ;;
  helm) build_helm ;;
  *) die "usage: $0 [all|kube|osm|helm]" ;;
esac

echo "CACHE_DIR=$CACHE"
echo "KUBE_BIN_DIR=$KUBE_DIR/bin"
echo "CNI_BIN_DIR=$CNI_DIR/bin"
echo "PAUSE_BIN=$PAUSE_DIR/pause"
echo "OSM_DIR=$OSM_DIR/bin"
echo "HELM_BIN=$HELM_DIR/bin/helm"

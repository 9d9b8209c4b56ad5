#!/usr/bin/env bash
# kind.sh: runs mesh-cni's e2e suite (TestE2E, test/e2e) on a one-node kind
# cluster, then TestMultiNode on a cluster with two workers, and leaves the
# host as it found it. Nothing is pulled: the node image is built here by
# test/tools/kind-node-image.sh (Debian's packages and the Go module proxy),
# the suite builds the mesh-cni and test images and loads them with `kind
# load image-archive`.
#
# The provider is the machine's: docker where a docker daemon answers, else
# podman (installed from apt when missing). podman runs with its own storage,
# configuration and network under $MESH_CNI_KIND_STATE, all removed at the
# end; docker's image and network are removed if this run added them. The
# clusters' network is internal (no route off the host, no NAT or port
# forwarding rules) when the node image is this project's: the suite reaches
# the API server at the node's address. Before it exits it compares the
# host's links, addresses, routes, iptables, mounts, cgroups and the
# provider's directories with what it recorded at the start, and fails on
# any difference.
#
# Usage: test/e2e/kind.sh        (root with podman; see README.md)
#        test/e2e/kind.sh down   (cleans up after a run that was killed)
# Env: KIND_PROVIDER (docker|podman), KIND_CLUSTER (default mesh-cni-e2e; the
#      multi-node one is $KIND_CLUSTER-multi), KIND_WORKERS (default 2; 0: no
#      multi-node cluster; KIND_MULTI_ONLY=1: only it), KIND_NODE_IMAGE (a node image of your own, e.g.
#      kindest/node:v1.37.0; default: built here), KEEP_CLUSTER=1 (keep the
#      clusters; `kind.sh down` later), MESH_CNI_KIND_STATE (default
#      /var/lib/mesh-cni-kind), MESH_CNI_CACHE.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD

CLUSTER=${KIND_CLUSTER:-mesh-cni-e2e}
WORKERS=${KIND_WORKERS:-2}
NETWORK=mesh-cni-kind
STATE=${MESH_CNI_KIND_STATE:-/var/lib/mesh-cni-kind}
LOG_PREFIX=kind.sh
# shellcheck source=../tools/kind/host.sh
. test/tools/kind/host.sh

choose_provider() {
  if [ -n "${KIND_PROVIDER:-}" ]; then
    echo "$KIND_PROVIDER"
  elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    echo docker
  else
    echo podman
  fi
}

ensure_podman() {
  command -v podman >/dev/null && [ -x /usr/lib/podman/netavark ] && return 0
  [ "$(id -u)" = 0 ] || die "podman is missing and this is not root"
  say "apt-get install podman netavark aardvark-dns"
  local had_conf=no
  [ -e /etc/cni/net.d/87-podman-bridge.conflist ] && had_conf=yes
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    podman netavark aardvark-dns >/dev/null || die "apt-get install podman"
  # The package's CNI network is unused with netavark, and in /etc/cni/net.d
  # it would join the CNI chain of any node run on this host.
  [ $had_conf = yes ] || rm -f /etc/cni/net.d/87-podman-bridge.conflist
}

# podman_config: podman's storage, runtime state, network definitions and
# configuration under STATE, through CONTAINERS_CONF and
# CONTAINERS_STORAGE_CONF (the host's /etc/containers stays untouched).
podman_config() {
  mkdir -p "$STATE/networks" "$STATE/tmp"
  local ulimits=
  # Without CAP_SYS_RESOURCE (a sandbox) no container may get more than the
  # hard limits podman itself has: nofile as here, nproc 32768 (podman lowers
  # its own to that when it cannot raise it).
  if ! has_sys_resource; then
    ulimits="default_ulimits = [\"nofile=$(ulimit -Hn):$(ulimit -Hn)\", \"nproc=32768:32768\"]"
    say "no CAP_SYS_RESOURCE here: containers keep the hard limits ($ulimits)"
  fi
  cat >"$STATE/containers.conf" <<EOF
[containers]
$ulimits
[engine]
cgroup_manager = "$([ -d /run/systemd/system ] && echo systemd || echo cgroupfs)"
events_logger = "file"
tmp_dir = "$STATE/tmp"
[network]
network_config_dir = "$STATE/networks"
EOF
  printf '[storage]\ndriver = "overlay"\ngraphroot = "%s/storage"\nrunroot = "%s/run"\n' "$STATE" "$STATE" >"$STATE/storage.conf"
}

provider_env() {
  export KIND_EXPERIMENTAL_PROVIDER=$PROVIDER
  if [ "$PROVIDER" = podman ]; then
    export CONTAINERS_CONF=$STATE/containers.conf CONTAINERS_STORAGE_CONF=$STATE/storage.conf
    export KIND_EXPERIMENTAL_PODMAN_NETWORK=$NETWORK
  else
    export KIND_EXPERIMENTAL_DOCKER_NETWORK=$NETWORK
  fi
}

# up: what every cluster needs - the provider set up, the node image loaded,
# the network - recording in STATE what down must undo. Sets IMAGE.
up() {
  if [ -e "$STATE" ]; then
    say "a run left $STATE: cleaning up first"
    down || die "$STATE is still there: see above"
  fi
  [ "$PROVIDER" = docker ] || ensure_podman
  mkdir -p "$STATE"
  echo "$PROVIDER" >"$STATE/provider"
  record_host >"$STATE/host-before"
  [ "$PROVIDER" = podman ] && podman_config
  provider_env
  # kind's podman provider mounts /lib/modules; a sandbox may have none.
  if [ ! -e /lib/modules ]; then
    mkdir /lib/modules
    echo /lib/modules >>"$STATE/created"
  fi
  IMAGE=${KIND_NODE_IMAGE:-}
  local out
  if [ -z "$IMAGE" ]; then
    out=$(bash test/tools/kind-node-image.sh) || die "test/tools/kind-node-image.sh"
    IMAGE=$(sed -n 's/^KIND_NODE_IMAGE=//p' <<<"$out")
    if ! "$PROVIDER" image inspect "$IMAGE" >/dev/null 2>&1; then
      local t0=$SECONDS
      "$PROVIDER" load -i "$(sed -n 's/^KIND_NODE_ARCHIVE=//p' <<<"$out")" >/dev/null || die "$PROVIDER load"
      say "node image loaded into $PROVIDER in $((SECONDS - t0))s"
      echo "$IMAGE" >"$STATE/image"
    fi
  fi
  # This node image routes the service range itself; a node image of your
  # own gets an ordinary network (NAT to the outside).
  local internal=--internal
  [ -z "${KIND_NODE_IMAGE:-}" ] || internal=
  "$PROVIDER" network create $internal "$NETWORK" >/dev/null || die "$PROVIDER network create $NETWORK"
  echo "$NETWORK" >"$STATE/network"
}

# create_cluster NAME WORKERS: a kind cluster of a control plane and WORKERS
# workers, all nodes Ready, its kubeconfig in STATE/NAME.kubeconfig.
create_cluster() {
  local name=$1 workers=$2 t0=$SECONDS ip i
  echo "$name" >>"$STATE/clusters"
  {
    printf 'kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n'
    for ((i = 0; i < workers; i++)); do echo '- role: worker'; done
  } >"$STATE/$name.yaml"
  "$KIND" create cluster --name "$name" --image "$IMAGE" --config "$STATE/$name.yaml" \
    --kubeconfig "$STATE/$name.kubeconfig" --wait 120s --retain || { node_diagnostics "$name"; die "kind create cluster $name"; }
  # The published port is not forwarded on an internal network: the API
  # server's certificate names the node's address too.
  ip=$("$PROVIDER" inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$name-control-plane")
  kubectl config set-cluster "kind-$name" --server="https://$ip:6443" --kubeconfig "$STATE/$name.kubeconfig" >/dev/null
  KUBECONFIG=$STATE/$name.kubeconfig kubectl wait --for=condition=Ready nodes --all --timeout=120s >/dev/null ||
    { node_diagnostics "$name"; die "the nodes of $name are not Ready"; }
  say "cluster $name ($((workers + 1)) nodes) up in $((SECONDS - t0))s"
}

# node_diagnostics NAME: what explains a node that did not come up.
node_diagnostics() {
  local node
  for node in $("$KIND" get nodes --name "$1" 2>/dev/null); do
    say "--- $node's console and journal"
    "$PROVIDER" logs "$node" 2>&1 | tail -n 20 | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' >&2 || true
    "$PROVIDER" exec "$node" journalctl --no-pager -n 60 -u containerd -u kubelet -u mesh-cni-kind-preload -u mesh-cni-kind-network >&2 || true
  done
}

# down: deletes the cluster and everything the provider made for it, then
# checks the host against the record (failing when it differs). Called as
# `down || ...`, so a step that fails does not stop the others.
down() {
  [ -d "$STATE" ] || return 0
  local t0=$SECONDS
  PROVIDER=$(cat "$STATE/provider" 2>/dev/null || echo podman)
  provider_env
  local name
  for name in $(cat "$STATE/clusters" 2>/dev/null); do
    "$KIND" delete cluster --name "$name" --kubeconfig "$STATE/$name.kubeconfig" || say "kind delete cluster $name failed"
  done
  [ -f "$STATE/network" ] && { "$PROVIDER" network rm -f "$(cat "$STATE/network")" >/dev/null || say "network rm failed"; }
  if [ "$PROVIDER" = podman ]; then
    [ -f "$STATE/containers.conf" ] && { podman system reset --force >/dev/null 2>&1 || say "podman system reset failed"; }
    drop_new_chains NETAVARK
    restore_forwarding
  elif [ -f "$STATE/image" ]; then
    docker rmi "$(cat "$STATE/image")" >/dev/null || say "docker rmi failed"
  fi
  remove_created
  unmount_under "$STATE"
  check_host "$STATE/host-before" || return 1
  rm -rf "$STATE"
  say "everything removed in $((SECONDS - t0))s; the host is as it was before the run"
}

# run_suite NAME TAGS TEST [SKIP]: the e2e package's TEST against the cluster
# NAME, leaving out the subtests SKIP matches (go test -skip).
# The suite reads node files through MESH_CNI_E2E_NODE_SHELL (the control
# plane) and loads its images (mesh-cni from cmd/mkimage, the meshapp test
# image) onto every node with MESH_CNI_E2E_LOAD_IMAGE + the tarball's path.
run_suite() {
  local t0=$SECONDS rc=0
  MESH_CNI_E2E_KUBECONFIG=$STATE/$1.kubeconfig MESH_CNI_E2E_NODE_SHELL="$PROVIDER exec -i $1-control-plane" \
    MESH_CNI_E2E_LOAD_IMAGE="$KIND load image-archive --name $1" \
    go test -tags "$2" -count=1 -timeout 40m -v ./test/e2e/ -run "^$3\$" ${4:+-skip "$4"} || rc=$?
  say "$3 on $1 finished in $((SECONDS - t0))s (exit $rc)"
  return "$rc"
}

finish() {
  local code=$?
  [ "$code" -eq 0 ] || rc=$code
  trap - EXIT
  if [ "${KEEP_CLUSTER:-}" = 1 ]; then
    say "keeping the clusters $(cat "$STATE/clusters" 2>/dev/null | tr '\n' ' ')(kubeconfigs in $STATE); \`test/e2e/kind.sh down\` removes them"
  else
    down || rc=1
  fi
  say "took $SECONDS s in all (exit $rc)"
  exit "$rc"
}

find_kind() {
  if [ -n "${KIND_BIN:-}" ]; then
    echo "$KIND_BIN"
  elif [ -n "${KIND_NODE_IMAGE:-}" ] && command -v kind >/dev/null; then
    command -v kind
  else
    bash test/tools/kind-node-image.sh kind | sed -n 's/^KIND_BIN=//p'
  fi
}

main() {
  PROVIDER=$(choose_provider)
  if [ "$PROVIDER" = podman ] && [ "$(id -u)" != 0 ]; then
    die "the podman provider runs as root here (its network and cgroups are the host's)"
  fi
  KIND=$(find_kind)
  [ -x "$KIND" ] || die "no kind"
  if [ "${1:-}" = down ]; then
    down || exit 1
    exit 0
  fi
  [ $# -eq 0 ] || die "usage: $0 [down]"
  # The suite's tools: build.sh's kubectl (where none is installed), Helm
  # and OSM's injector.
  local tools
  tools=$(bash test/tools/build.sh) || die "test/tools/build.sh"
  PATH="$PATH:$(sed -n 's/^KUBE_BIN_DIR=//p' <<<"$tools"):$(dirname "$(sed -n 's/^HELM_BIN=//p' <<<"$tools")")"
  trap finish EXIT
  trap 'exit 130' INT TERM
  up
  if [ "${KIND_MULTI_ONLY:-}" != 1 ]; then
    create_cluster "$CLUSTER" 0
    # The fault step (about 4 minutes) restarts the node's containerd and
    # kubelet, rolls the DaemonSet and rewrites the primary CNI; the
    # real-node tier has just run it, and kind's node is the same node in a
    # container, so CI runs it once. KIND_FAULTS=1 runs it here too.
    run_suite "$CLUSTER" e2e TestE2E "$([ "${KIND_FAULTS:-}" = 1 ] || echo '^TestE2E$/^faults$')" || rc=1
    "$KIND" delete cluster --name "$CLUSTER" --kubeconfig "$STATE/$CLUSTER.kubeconfig" || die "kind delete cluster $CLUSTER"
  fi
  [ "$WORKERS" -gt 0 ] || return 0
  create_cluster "$CLUSTER-multi" "$WORKERS"
  run_suite "$CLUSTER-multi" "e2e kind" TestMultiNode || rc=1
}

# All of it is in functions, read before anything runs: editing this file
# while it runs cannot change what it does.
rc=0
main "$@"; exit

#!/usr/bin/env bash
# kind.sh: runs mesh-cni's e2e suite (test/e2e) on a kind cluster, for people
# with Docker. It creates a one-node kind cluster, lets the suite build the
# images locally and load them with `kind load image-archive` (nothing is
# pulled but kind's own node image), runs the suite, and deletes the cluster.
#
# NOT RUN HERE: the machine mesh-cni is developed and tested on has no Docker
# engine, so this script has never been run. CI runs the same suite on a
# local real node instead (`go test -tags e2e ./test/e2e/`, see README.md).
# Expect to fix small things the first time; the suite itself is the same.
#
# Needs: docker, kind, kubectl, go, jq on PATH. Usage: test/e2e/kind.sh
# Env: KIND_CLUSTER (default mesh-cni-e2e), KIND_NODE_IMAGE (default: kind's),
#      KEEP_CLUSTER=1 to keep the cluster afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."

CLUSTER=${KIND_CLUSTER:-mesh-cni-e2e}
NODE=$CLUSTER-control-plane
for tool in docker kind kubectl go; do
  command -v "$tool" >/dev/null || { echo "kind.sh: $tool not found on PATH" >&2; exit 1; }
done

KUBECONFIG_FILE=$(mktemp -t mesh-cni-kind-kubeconfig.XXXXXX)
cleanup() {
  if [ "${KEEP_CLUSTER:-}" = 1 ]; then
    echo "kind.sh: keeping cluster $CLUSTER (KUBECONFIG=$KUBECONFIG_FILE)" >&2
  else
    kind delete cluster --name "$CLUSTER" || true
    rm -f "$KUBECONFIG_FILE"
  fi
}
trap cleanup EXIT

args=(create cluster --name "$CLUSTER" --kubeconfig "$KUBECONFIG_FILE" --wait 120s)
[ -n "${KIND_NODE_IMAGE:-}" ] && args+=(--image "$KIND_NODE_IMAGE")
kind "${args[@]}"

# The troubleshooting guides read the node's CNI config with jq; kind's node
# image has no jq.
docker exec "$NODE" sh -c 'command -v jq >/dev/null || (apt-get update -qq && apt-get install -y -qq jq >/dev/null)'

# The suite reads node files through MESH_CNI_E2E_NODE_SHELL and loads its
# images (mesh-cni from cmd/mkimage, the meshapp test image) with
# MESH_CNI_E2E_LOAD_IMAGE + the tarball's path.
export MESH_CNI_E2E_KUBECONFIG=$KUBECONFIG_FILE
export MESH_CNI_E2E_NODE_SHELL="docker exec -i $NODE"
export MESH_CNI_E2E_LOAD_IMAGE="kind load image-archive --name $CLUSTER"
go test -tags e2e -count=1 -timeout 40m -v ./test/e2e/ -run TestE2E

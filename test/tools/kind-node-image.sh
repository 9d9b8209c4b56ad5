#!/usr/bin/env bash
# kind-node-image.sh: builds (once) and caches the kind node image that
# test/e2e/kind.sh runs, from Debian's packages and the Go module proxy only -
# no registry, no kindest/base, no `kind build node-image`, no container
# engine. Into the tools cache of test/tools/build.sh (whose Kubernetes, CNI
# plugins and pause it uses, and whose stamps and lock it follows) it builds
# kind itself, kubeadm and kubectl (from build.sh's Kubernetes module), etcd,
# CoreDNS and the ptp CNI plugin; with debootstrap the node's root file system
# and kube-proxy's; the component images under the names kubeadm asks for; and
# the node image, a docker-save archive. Each part is rebuilt only when an
# input changes (versions, the package lists, test/tools/kind/node and kube-proxy).
# Root: debootstrap and its chroot need it.
#
# Usage: test/tools/kind-node-image.sh [all|kind]   (env: MESH_CNI_CACHE, DEBIAN_MIRROR)
# `kind` builds only kind (for a node image from elsewhere; no root needed).
# On success the last lines are KEY=VALUE pairs (kind.sh reads them):
#   KIND_BIN=... KIND_NODE_IMAGE=... KIND_NODE_ARCHIVE=...
set -euo pipefail

KIND=v0.33.0
ETCD=v3.5.24
COREDNS=v1.12.0
SUITE=bookworm
NODE_PKGS=systemd,systemd-sysv,dbus,containerd,runc,iptables,nftables,conntrack,ethtool,socat,ebtables,kmod,iproute2,util-linux,mount,procps,ca-certificates,libseccomp2,pigz,jq
PROXY_PKGS=iptables,conntrack,kmod,ipset
# Units that must not run in a node container: they would change the host
# (systemd-sysctl writes global sysctls, binfmt and module loading are the
# kernel's) or have nothing to manage there.
MASKED=(systemd-sysctl.service systemd-binfmt.service proc-sys-fs-binfmt_misc.automount
  systemd-modules-load.service systemd-udevd.service systemd-udevd-control.socket
  systemd-udevd-kernel.socket systemd-udev-trigger.service systemd-logind.service
  getty.target console-getty.service systemd-random-seed.service systemd-remount-fs.service
  sys-kernel-debug.mount sys-kernel-tracing.mount sys-kernel-config.mount)
ENABLED=(containerd.service mesh-cni-kind-preload.service kubelet.service mesh-cni-kind-network.service)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${MESH_CNI_CACHE:-$HOME/.cache/mesh-cni-e2e}
LOG_PREFIX=kind-node-image.sh
ARCH=$(go env GOARCH)
# shellcheck source=kind/lib.sh
. "$HERE/kind/lib.sh"
trap 'rc=$?; [ $rc -eq 0 ] || echo "$LOG_PREFIX: FAILED (exit $rc) at line $LINENO" >&2' EXIT

# The versions build.sh builds, read from it so the two never disagree.
from_build_sh() { sed -n "s/^$1=\([^ ]*\).*/\1/p" "$HERE/build.sh"; }
K8S=$(from_build_sh K8S)
CNI_PLUGINS=$(from_build_sh CNI_PLUGINS)
[ -n "$K8S" ] && [ -n "$CNI_PLUGINS" ] || die "cannot read K8S and CNI_PLUGINS from build.sh"
KUBEADM_DIR=$CACHE/kubeadm-$K8S
ETCD_DIR=$CACHE/etcd-$ETCD
COREDNS_DIR=$CACHE/coredns-$COREDNS
PTP_DIR=$CACHE/cni-ptp-$CNI_PLUGINS
KIND_DIR=$CACHE/kind-$KIND

mkdir -p "$CACHE"
exec 9>"$CACHE/kind-build.lock"
if ! flock -n 9; then
  say "waiting for another kind-node-image.sh holding $CACHE/kind-build.lock"
  flock 9
fi
case "${1:-all}" in
  kind) goinstall "$KIND_DIR" "$KIND" "sigs.k8s.io/kind@$KIND"; echo "KIND_BIN=$KIND_DIR/bin/kind"; exit 0 ;;
  all) ;;
  *) die "usage: $0 [all|kind]" ;;
esac
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap)"
# build.sh's binaries first: it takes and releases its own lock.
BUILD_OUT=$(bash "$HERE/build.sh") || die "test/tools/build.sh"
from_build_out() { sed -n "s/^$1=//p" <<<"$BUILD_OUT"; }
KUBE_BIN_DIR=$(from_build_out KUBE_BIN_DIR)
CNI_BIN_DIR=$(from_build_out CNI_BIN_DIR)
PAUSE_BIN=$(from_build_out PAUSE_BIN)


ensure_debootstrap() {
  command -v debootstrap >/dev/null && return 0
  say "apt-get install debootstrap"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null ||
    die "apt-get install debootstrap"
}

# The mirror the host's apt uses, else Debian's.
debian_mirror() {
  [ -n "${DEBIAN_MIRROR:-}" ] && { echo "$DEBIAN_MIRROR"; return; }
  local m
  m=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
    sed -n -E 's#^(URIs:|deb) *(\[[^]]*\] *)?(https?://[^ ]*/debian)/? .*#\3#p; s#^URIs: *(https?://[^ ]*/debian)/?$#\1#p' | head -n 1)
  echo "${m:-http://deb.debian.org/debian}"
}

# kubeadm and kubectl from build.sh's throwaway Kubernetes module (go.mod and
# go.sum copied, so the same dependency versions), with kubeadm's own
# dependencies added by go mod tidy.
build_kubeadm() {
  stamped "$KUBEADM_DIR" "$K8S" && return 0
  local mod=$KUBEADM_DIR/module src=${KUBE_BIN_DIR%/bin}/module V=k8s.io/component-base/version c
  [ -f "$src/go.mod" ] || die "no Kubernetes module at $src (build.sh)"
  mkdir -p "$mod" && cp "$src/go.mod" "$src/go.sum" "$mod/"
  printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kubeadm"\n\t_ "k8s.io/kubernetes/cmd/kubectl"\n)\n' >"$mod/tools.go"
  say "kubeadm $K8S: resolving its modules"
  (cd "$mod" && GOWORK=off go mod tidy) || die "go mod tidy in $mod"
  rm -rf "$KUBEADM_DIR/bin" && mkdir -p "$KUBEADM_DIR/bin"
  local minor=${K8S#v1.}
  for c in kubeadm kubectl; do
    gobuild "$c $K8S" "$mod" "$KUBEADM_DIR/bin/$c" "k8s.io/kubernetes/cmd/$c" \
      "-X $V.gitVersion=$K8S -X $V.gitMajor=1 -X $V.gitMinor=${minor%%.*} -X $V.gitTreeState=clean" || die "go build $c"
  done
  echo "$K8S" >"$KUBEADM_DIR/stamp"
}

# etcd: its server module has replace directives, so `go install @version`
# refuses it; a throwaway module requiring it builds it.
build_etcd() {
  stamped "$ETCD_DIR" "$ETCD" && return 0
  local mod=$ETCD_DIR/module
  mkdir -p "$mod" "$ETCD_DIR/bin"
  printf 'module meshcni.local/etcdbuild\n\ngo 1.23\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD" >"$mod/go.mod"
  gobuild "etcd $ETCD" "$mod" "$ETCD_DIR/bin/etcd" go.etcd.io/etcd/server/v3 || die "go build etcd $ETCD"
  echo "$ETCD" >"$ETCD_DIR/stamp"
}

# rootfs NAME PACKAGES: a minbase debootstrap of SUITE with PACKAGES, without
# docs, man pages and apt's lists; prints its directory.
rootfs() {
  local name=$1 pkgs=$2 mirror key dir
  mirror=$(debian_mirror)
  key=$(printf '%s\n' "$SUITE" "$mirror" "$pkgs" "$ARCH" | sha256sum | cut -c1-12)
  dir=$CACHE/kind-rootfs/$name-$key
  if ! stamped "$dir" "$key"; then
    ensure_debootstrap
    rm -rf "$dir" && mkdir -p "$dir"
    say "debootstrap $SUITE for the $name image from $mirror (about a minute)"
    watched "debootstrap $name" "steps" "" "$dir/debootstrap.log" \
      debootstrap --variant=minbase --arch="$ARCH" --include="$pkgs" "$SUITE" "$dir/root" "$mirror" || {
      findmnt -lno target | grep "^$dir/" | sort -r | xargs -r umount -l
      die "debootstrap $name (its log: $dir/debootstrap.log)"
    }
    rm -rf "$dir"/root/usr/share/{doc,man,info} "$dir"/root/var/lib/apt/lists/* "$dir"/root/var/cache/apt/* "$dir"/root/var/log/*.log
    : >"$dir/root/etc/machine-id"
    echo "$key" >"$dir/stamp"
  fi
  echo "$dir/root"
}

# component_images DIR: kubeadm's control-plane images, kube-proxy, CoreDNS
# and pause, each under the exact name `kubeadm config images list` prints.
component_images() {
  local out=$1 ref name root env='"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]'
  mkdir -p "$out"
  for ref in $("$KUBEADM_DIR/bin/kubeadm" config images list --kubernetes-version "$K8S"); do
    name=${ref##*/}
    root=$(mktemp -d "$out/root.XXXXXX")
    case ${name%%:*} in
      kube-proxy)
        cp -a "$PROXY_ROOT/." "$root/" && cp -a "$HERE/kind/kube-proxy/." "$root/"
        for n in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
          ln -sf iptables-wrapper "$root/usr/sbin/$n"
        done
        install -D -m 755 "$KUBE_BIN_DIR/kube-proxy" "$root/usr/local/bin/kube-proxy"
        image_tar "$root" "$ref" "{$env}" "$out/${name%%:*}.tar" ;;
      kube-*)
        install -D -m 755 "$KUBE_BIN_DIR/${name%%:*}" "$root/usr/local/bin/${name%%:*}"
        image_tar "$root" "$ref" "{$env,\"Entrypoint\":[\"/usr/local/bin/${name%%:*}\"]}" "$out/${name%%:*}.tar" ;;
      etcd)
        [ "${name#etcd:}" = "${ETCD#v}-0" ] || die "kubeadm $K8S wants $ref, this script builds etcd $ETCD"
        install -D -m 755 "$ETCD_DIR/bin/etcd" "$root/usr/local/bin/etcd"
        image_tar "$root" "$ref" "{$env}" "$out/etcd.tar" ;;
      coredns)
        [ "${name#coredns:}" = "$COREDNS" ] || die "kubeadm $K8S wants $ref, this script builds CoreDNS $COREDNS"
        install -D -m 755 "$COREDNS_DIR/bin/coredns" "$root/coredns"
        image_tar "$root" "$ref" '{"Entrypoint":["/coredns"]}' "$out/coredns.tar" ;;
      pause)
        install -D -m 755 "$PAUSE_BIN" "$root/pause"
        image_tar "$root" "$ref" '{"Entrypoint":["/pause"]}' "$out/pause.tar" ;;
      *) die "kubeadm lists an image this script does not build: $ref" ;;
    esac
    rm -rf "$root"
  done
  grep -q '"registry.k8s.io/pause:3.10"' "$HERE/kind/node/etc/containerd/config.toml" ||
    die "containerd's sandbox_image must be kubeadm's pause image"
}

# node_root DIR: the node's file system: the Debian root, this directory's
# files, the Kubernetes binaries, the CNI plugins and the component images.
node_root() {
  local root=$1 u
  say "assembling the node's file system"
  cp -a "$NODE_ROOT" "$root"
  cp -a "$HERE/kind/node/." "$root/"
  install -m 755 "$KUBE_BIN_DIR/kubelet" "$KUBEADM_DIR/bin/kubeadm" "$KUBEADM_DIR/bin/kubectl" "$root/usr/bin/"
  mkdir -p "$root/opt/cni/bin" "$root/etc/kubernetes/manifests"
  install -m 755 "$CNI_BIN_DIR"/{host-local,loopback,portmap} "$PTP_DIR/bin/ptp" "$root/opt/cni/bin/"
  echo "$K8S" >"$root/kind/version"
  for u in "${MASKED[@]}"; do ln -sf /dev/null "$root/etc/systemd/system/$u"; done
  mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
  for u in "${ENABLED[@]}"; do
    ln -sf "$( [ -f "$root/etc/systemd/system/$u" ] && echo /etc || echo /lib)/systemd/system/$u" \
      "$root/etc/systemd/system/multi-user.target.wants/$u"
  done
  say "building the component images"
  component_images "$root/kind/images"
}

# The node image's key: everything it is built from.
node_key() {
  {
    cat "${BASH_SOURCE[0]}" "$HERE/kind/lib.sh"
    (cd "$HERE/kind" && find node kube-proxy -type f | LC_ALL=C sort | xargs sha256sum)
    echo "$K8S $CNI_PLUGINS $KIND $ETCD $COREDNS $NODE_ROOT $PROXY_ROOT"
    cat "${KUBE_BIN_DIR%/bin}/stamp" "${CNI_BIN_DIR%/bin}/stamp" "${PAUSE_BIN%/pause}/stamp"
  } | sha256sum | cut -c1-12
}

t0=$SECONDS
# The debootstraps wait on the mirror, the Go builds on the CPU: the two
# root file systems are made while the builds run.
ROOTS=$(mktemp)
(rootfs node "$NODE_PKGS" && rootfs kube-proxy "$PROXY_PKGS") >"$ROOTS" &
roots_pid=$!
# A build that fails leaves no debootstrap running behind it (nor its
# mounts in the chroot): the script ends when that one has.
trap 'rc=$?; wait "$roots_pid" 2>/dev/null; rm -f "$ROOTS"; [ $rc -eq 0 ] || echo "$LOG_PREFIX: FAILED (exit $rc) at line $LINENO" >&2' EXIT
goinstall "$KIND_DIR" "$KIND" "sigs.k8s.io/kind@$KIND"
goinstall "$COREDNS_DIR" "$COREDNS" "github.com/coredns/coredns@$COREDNS"
goinstall "$PTP_DIR" "$CNI_PLUGINS" "github.com/containernetworking/plugins/plugins/main/ptp@$CNI_PLUGINS"
build_kubeadm
build_etcd
wait "$roots_pid" || die "the root file systems (the lines above say which debootstrap failed)"
{ read -r NODE_ROOT && read -r PROXY_ROOT; } <"$ROOTS" || die "the root file systems: $ROOTS lacks their directories"
rm -f "$ROOTS"
KEY=$(node_key)
NODE_DIR=$CACHE/kind-node-$KEY
IMAGE=localhost/mesh-cni/kind-node:$K8S-$KEY
if ! stamped "$NODE_DIR" "$IMAGE"; then
  rm -rf "$NODE_DIR" && mkdir -p "$NODE_DIR"
  node_root "$NODE_DIR/root"
  say "writing the node image $IMAGE"
  image_tar "$NODE_DIR/root" "$IMAGE" \
    '{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","container=docker"],"Entrypoint":["/usr/local/bin/entrypoint","/sbin/init"],"StopSignal":"SIGRTMIN+3"}' \
    "$NODE_DIR/node-image.tar"
  rm -rf "$NODE_DIR/root"
  echo "$IMAGE" >"$NODE_DIR/stamp"
  # Older node images are a gigabyte each: keep only this one.
  find "$CACHE" -maxdepth 1 -name 'kind-node-*' ! -name "kind-node-$KEY" -exec rm -rf {} +
  say "node image built in $((SECONDS - t0))s ($(du -h "$NODE_DIR/node-image.tar" | cut -f1))"
fi

echo "KIND_BIN=$KIND_DIR/bin/kind"
echo "KIND_NODE_IMAGE=$IMAGE"
echo "KIND_NODE_ARCHIVE=$NODE_DIR/node-image.tar"

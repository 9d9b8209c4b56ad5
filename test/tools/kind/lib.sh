# lib.sh: shell helpers of test/tools/kind-node-image.sh (sourced; it sets
# LOG_PREFIX, ARCH and CACHE first).

say() { echo "$LOG_PREFIX: $*" >&2; }
die() { echo "$LOG_PREFIX: FAILED: $*" >&2; exit 1; }

# stamped DIR VALUE: DIR's stamp says VALUE (the stamp is written last, so a
# half-done build is redone).
stamped() { [ -f "$1/stamp" ] && [ "$(cat "$1/stamp")" = "$2" ]; }

# watched LABEL UNIT TOTAL LOG CMD...: runs CMD with its output in LOG and,
# every 20 seconds, says how far it is: LOG's lines so far, counted as UNIT
# (of TOTAL, when known), its last line and the time so far. On failure it
# prints LOG's tail. go build -v prints a line per package it compiles, and
# debootstrap one per package it fetches, unpacks and configures.
watched() {
  local label=$1 unit=$2 total=$3 log=$4 t0=$SECONDS next=$((SECONDS + 20)) pid rc=0 n
  shift 4
  "$@" >"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if ((SECONDS >= next)); then
      n=$(wc -l <"$log")
      say "$label: $n${total:+/$total} $unit, $((SECONDS - t0))s so far (last: $(tail -n 1 "$log" | cut -c1-80))"
      next=$((SECONDS + 20))
    fi
  done
  wait "$pid" || rc=$?
  if [ "$rc" -ne 0 ]; then
    tail -n 30 "$log" >&2
    return "$rc"
  fi
  say "$label: done in $((SECONDS - t0))s"
}

# gobuild LABEL MODDIR OUT PKG [FLAGS...]: a static, stripped go build of the
# package PKG in the module MODDIR to OUT, watched (its packages counted).
gobuild() {
  local label=$1 mod=$2 out=$3 pkg=$4 total
  shift 4
  total=$(cd "$mod" && GOWORK=off GOFLAGS=-mod=mod go list -deps "$pkg" 2>/dev/null | grep -c .) || total=
  (cd "$mod" && watched "$label" "packages compiled (those in Go's build cache are skipped)" "$total" "$out.log" \
    env GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 go build -v -trimpath -ldflags "-s -w $*" -o "$out" "$pkg")
  rm -f "$out.log"
}

# goinstall DIR VERSION PKG@VERSION...: go install of module-proxy packages into
# DIR/bin, stamped VERSION.
goinstall() {
  local dir=$1 version=$2
  shift 2
  stamped "$dir" "$version" && return 0
  rm -rf "$dir/bin.tmp" && mkdir -p "$dir/bin.tmp"
  (cd "$CACHE" && watched "go install $*" "packages compiled" "" "$dir/build.log" \
    env GOWORK=off GOBIN="$dir/bin.tmp" CGO_ENABLED=0 go install -v -trimpath -ldflags "-s -w" "$@") || die "go install $*"
  rm -rf "$dir/bin" "$dir/build.log" && mv "$dir/bin.tmp" "$dir/bin"
  echo "$version" >"$dir/stamp"
}

# image_tar ROOT REF CONFIG OUT: writes OUT, a docker-save archive (what
# `docker load`, `podman load` and `ctr images import` read) of a one-layer
# image named REF whose file system is the directory ROOT, with CONFIG (a
# JSON object: Env, Entrypoint, StopSignal ...) as its run configuration.
# Owners are kept by number.
image_tar() {
  local root=$1 ref=$2 config=$3 out=$4 tmp layer cfg
  tmp=$(mktemp -d "$out.XXXXXX")
  tar --numeric-owner --sort=name -C "$root" -cf "$tmp/layer.tar" .
  layer=$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)
  mkdir "$tmp/$layer" && mv "$tmp/layer.tar" "$tmp/$layer/layer.tar"
  printf '{"architecture":"%s","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"test/tools/kind-node-image.sh"}]}' \
    "$ARCH" "$config" "$layer" >"$tmp/config.json"
  cfg=$(sha256sum "$tmp/config.json" | cut -d' ' -f1)
  mv "$tmp/config.json" "$tmp/$cfg.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "$cfg" "$ref" "$layer" >"$tmp/manifest.json"
  tar -C "$tmp" -cf "$out.tmp" manifest.json "$cfg.json" "$layer"
  rm -rf "$tmp"
  mv "$out.tmp" "$out"
}

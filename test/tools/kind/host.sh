# host.sh: what test/e2e/kind.sh records of the host before it starts a kind
# cluster, and how it proves afterwards that the host is as it found it
# (sourced; the caller sets LOG_PREFIX).

say() { echo "$LOG_PREFIX: $*" >&2; }
die() { echo "$LOG_PREFIX: FAILED: $*" >&2; exit 1; }

# has_sys_resource: whether this process may raise hard rlimits and lower
# oom_score_adj (root in some sandboxes may not).
has_sys_resource() {
  local bnd
  bnd=$(awk '/^CapEff:/ {print $2}' /proc/self/status)
  (((16#$bnd >> 24) & 1))
}

# provider_paths: directories a container provider may create on the host
# besides its own storage: podman's runtime state, netavark's IPAM and DNS
# state, runc's state, the network namespaces' mount point, podman's cgroups.
provider_paths() {
  echo /lib/modules /run/containers /run/libpod /run/runc /run/crun /run/netns \
    /var/lib/containers /var/lib/cni /etc/containers/networks /etc/cni
  local h
  for h in /sys/fs/cgroup/*/; do echo "${h}libpod_parent"; done
}

# iptables_rules: every backend's rules and chains, by table, without
# counters; built-in chains only when their policy is not ACCEPT (an empty
# table that some other program loaded meanwhile is no change).
iptables_rules() {
  local s
  for s in iptables-nft-save ip6tables-nft-save iptables-legacy-save ip6tables-legacy-save; do
    command -v "$s" >/dev/null || continue
    "$s" 2>/dev/null | awk -v s="$s" '
      /^\*/ { t = substr($0, 2); next }
      /^-/ { print s, t, $0; next }
      /^:/ { if ($1 ~ /^:(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING)$/ && $2 == "ACCEPT") next
             print s, t, $1, $2 }' || true
  done
}

# record_host: the host's state a kind run may change, one fact a line.
record_host() {
  {
    ip -o link show | awk -F': ' '{print "link", $2}'
    ip -o addr show | awk '{print "addr", $2, $4}'
    ip route show table all | sed 's/^/route /'
    ip -6 route show table all | sed 's/^/route6 /'
    ip netns list 2>/dev/null | sed 's/^/netns /'
    iptables_rules
    awk '{print "mount", $5}' /proc/self/mountinfo
    for p in $(provider_paths); do if [ -e "$p" ]; then echo "path $p"; fi; done
    echo "sysctl ip_forward $(cat /proc/sys/net/ipv4/ip_forward)"
    echo "sysctl ipv6_forwarding $(cat /proc/sys/net/ipv6/conf/all/forwarding 2>/dev/null)"
    for c in conmon aardvark-dns netavark slirp4netns kind; do if pgrep -x "$c" >/dev/null; then echo "process $c"; fi; done
  } | LC_ALL=C sort
}

# remove_created: the provider paths that were not there when record_host
# ran (from STATE/host-before), mounts under them first; cgroups deepest
# first.
remove_created() {
  local p
  for p in $(provider_paths) $(cat "$STATE/created" 2>/dev/null); do
    [ -e "$p" ] || continue
    grep -qxF "path $p" "$STATE/host-before" && continue
    case $p in
      /sys/fs/cgroup/*) find "$p" -depth -type d -exec rmdir {} + 2>/dev/null || say "cannot remove cgroup $p" ;;
      *) unmount_under "$p" && rm -rf "$p" ;;
    esac
  done
}

# drop_new_chains PREFIX: removes the iptables chains named PREFIX* that
# were not in STATE/host-before, in every backend and table, and the rules
# that jump to them (netavark leaves its chains when its last network goes).
drop_new_chains() {
  local cmd t c rule chains
  for cmd in iptables-nft ip6tables-nft iptables-legacy ip6tables-legacy; do
    command -v "$cmd" >/dev/null || continue
    for t in filter nat mangle; do
      chains=$("$cmd-save" -t "$t" 2>/dev/null | sed -n "s/^:\($1[^ ]*\) .*/\1/p")
      for c in $chains; do
        grep -q "^$cmd-save $t :$c " "$STATE/host-before" && continue
        "$cmd-save" -t "$t" 2>/dev/null | grep -E -- "-j $c( |\$)" | grep -v "^-A $c " | sed 's/^-A /-D /' |
          while read -r rule; do eval "$cmd -t $t $rule" || say "cannot delete $cmd -t $t $rule"; done
        "$cmd" -t "$t" -F "$c"
      done
      for c in $chains; do
        grep -q "^$cmd-save $t :$c " "$STATE/host-before" || "$cmd" -t "$t" -X "$c" || say "cannot delete chain $c"
      done
    done
  done
}

# restore_forwarding: puts back the forwarding sysctls of STATE/host-before
# (netavark turns IPv4 forwarding on for a network that is not internal).
restore_forwarding() {
  local v
  v=$(sed -n 's/^sysctl ip_forward //p' "$STATE/host-before")
  [ -z "$v" ] || [ "$(cat /proc/sys/net/ipv4/ip_forward)" = "$v" ] || echo "$v" >/proc/sys/net/ipv4/ip_forward
  v=$(sed -n 's/^sysctl ipv6_forwarding //p' "$STATE/host-before")
  [ -z "$v" ] || [ "$(cat /proc/sys/net/ipv6/conf/all/forwarding)" = "$v" ] || echo "$v" >/proc/sys/net/ipv6/conf/all/forwarding
}

# unmount_under DIR: unmounts DIR and every mount below it, deepest first.
unmount_under() {
  local m
  for m in $(awk '{print $5}' /proc/self/mountinfo | grep -E "^$1(/|$)" | LC_ALL=C sort -r); do
    umount -l "$m" || say "cannot unmount $m"
  done
}

# check_host BEFORE: compares the host with the record BEFORE; a difference
# is retried for a few seconds (a namespace being torn down), then printed.
check_host() {
  local i now
  for i in 1 2 3 4 5 6; do
    now=$(record_host)
    diff <(cat "$1") <(echo "$now") >/dev/null && return 0
    sleep 2
  done
  say "the host differs from what it was before the run (< before, > now):"
  diff <(cat "$1") <(echo "$now") >&2 || true
  return 1
}

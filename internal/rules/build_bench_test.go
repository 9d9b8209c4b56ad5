package rules

import "testing"

// BenchmarkBuild builds the default rule set (osm-v0, IPv4) and renders
// its iptables-restore document, as a new pod's ADD does where the
// netlink writer is not used; -benchmem shows what it allocates.
//
//	go test ./internal/rules/ -run '^$' -bench Build -benchmem
func BenchmarkBuild(b *testing.B) {
	cfg := DefaultConfig(ProfileOSMv0)
	for b.Loop() {
		rs, err := Build(cfg, IPv4)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := RenderRestore(rs); err != nil {
			b.Fatal(err)
		}
	}
}

package meshsettings

import (
	"fmt"
	"reflect"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// Record renders cfg as the osm-init command mesh-cni's webhook records
// on a pod that has no osm-init: what rules.RenderOSMInit prints for
// Build(cfg, IPv4), with rules.PodIPPlaceholder where PodIP mode needs
// the pod's address (the plugin puts it in at ADD, as osm-init's shell
// expanded $POD_IP). cfg's PodIPs are not used.
//
// The plugin installs a record as rules.ParseOSMInit reads it, for every
// family of the pod. Record checks that this gives exactly cfg's rules in
// both families, and fails where it would not: an IPv6 range, which the
// IPv4 command cannot carry. Such a pod gets no record, and the plugin
// computes its rules at ADD from the settings, as for any pod without one.
func Record(cfg rules.Config) (string, error) {
	cfg.PodIPs = nil
	rs, err := rules.Build(cfg, rules.IPv4)
	if err != nil {
		return "", err
	}
	script := rules.RenderOSMInit(rs)
	back, err := rules.ParseOSMInit(script)
	if err != nil {
		return "", fmt.Errorf("the plugin would refuse the record: %w", err)
	}
	for _, fam := range []rules.Family{rules.IPv4, rules.IPv6} {
		want, err := rules.Build(cfg, fam)
		if err != nil {
			return "", err
		}
		got, err := rules.Build(back, fam)
		if err != nil || !reflect.DeepEqual(got, want) {
			return "", fmt.Errorf("the record would not give the pod's %s rules (osm-init's command holds IPv4 rules only; outbound IP ranges %v, inclusions %v)",
				fam, cfg.OutboundIPRangeExclusions, cfg.OutboundIPRangeInclusions)
		}
	}
	return script, nil
}

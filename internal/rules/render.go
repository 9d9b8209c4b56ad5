package rules

import (
	"fmt"
	"strings"
)

// restoreHeader is the comment osm-init v1 put at the top of its script.
const restoreHeader = "# OSM sidecar interception rules"

// RenderRestore renders the rule set as an iptables-restore document for
// `iptables-restore --noflush`: the chains declared (which creates or
// empties them) and every rule, committed as one transaction.
func RenderRestore(rs RuleSet) (string, error) {
	if err := checkApplicable(rs); err != nil {
		return "", err
	}
	var sb strings.Builder
	writeRestoreBody(&sb, rs)
	return sb.String(), nil
}

// checkApplicable fails a rule set that still holds PodIPPlaceholder.
func checkApplicable(rs RuleSet) error {
	for _, r := range rs.Rules {
		if r.Target.Kind == TargetDNAT && !r.Target.Addr.IsValid() {
			return fmt.Errorf("rule %q needs the pod's %s address", r.String(), rs.Family)
		}
	}
	return nil
}

// CheckApplicable fails a rule set that cannot be installed as it is: one
// of an unknown family, one that still holds PodIPPlaceholder, or one with
// a rule in a chain that is neither builtin nor mesh-cni's. It is apart
// from RenderRestore so that Apply can check a set without rendering a
// document it would throw away: in the short-lived plugin process those
// first allocations cost page faults.
func CheckApplicable(rs RuleSet) error {
	if rs.Family != IPv4 && rs.Family != IPv6 {
		return fmt.Errorf("unknown address family %d", rs.Family)
	}
	if err := checkApplicable(rs); err != nil {
		return err
	}
	for _, r := range rs.Rules {
		if !isBuiltin(r.Chain) && !isOwned(r.Chain) {
			return fmt.Errorf("rule %q is in chain %s, which is not mesh-cni's", r.String(), r.Chain)
		}
	}
	return nil
}

func writeRestoreBody(sb *strings.Builder, rs RuleSet) {
	sb.WriteString("*" + Table + "\n")
	for _, c := range rs.Chains {
		sb.WriteString(":" + c + " - [0:0]\n")
	}
	for _, r := range rs.Rules {
		r.write(sb)
		sb.WriteByte('\n')
	}
	sb.WriteString("COMMIT\n")
}

// RenderOSMInit renders the rule set as the shell command osm-init of the
// profile's generation ran: for osm-v0 `iptables -t nat ...` commands joined
// by " && ", for osm-v1.0 and osm-v1 an `iptables-restore --noflush` here-document.
func RenderOSMInit(rs RuleSet) string {
	bin := rs.Family.Iptables()
	if rs.Profile != ProfileOSMv0 {
		var sb strings.Builder
		sb.WriteString(bin + "-restore --noflush <<EOF\n" + restoreHeader + "\n")
		writeRestoreBody(&sb, rs)
		sb.WriteString("EOF")
		return sb.String()
	}
	cmds := make([]string, 0, len(rs.Chains)+len(rs.Rules))
	for _, c := range rs.Chains {
		cmds = append(cmds, bin+" -t "+Table+" -N "+c)
	}
	for _, r := range rs.Rules {
		cmds = append(cmds, bin+" -t "+Table+" "+r.String())
	}
	return strings.Join(cmds, " && ")
}

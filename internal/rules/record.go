package rules

import (
	"fmt"
	"strings"
)

// RecordError is why ParseOSMInit refused a recorded osm-init command: the
// part of the script at fault and what is wrong with it, worded for a
// person reading `kubectl describe pod`.
type RecordError struct {
	// Where is "line 9" for the iptables-restore forms, "iptables command 5"
	// for the v0 form (commands counted from 1 between the " && "), or ""
	// when the script as a whole is at fault.
	Where string
	// Msg says what is wrong and names the offending token.
	Msg string
}

// Error is `osm-init command, line 9: unknown target "MASQUERADE"`.
func (e *RecordError) Error() string {
	if e.Where == "" {
		return "osm-init command: " + e.Msg
	}
	return "osm-init command, " + e.Where + ": " + e.Msg
}

func recordErr(where, format string, args ...any) *RecordError {
	return &RecordError{Where: where, Msg: fmt.Sprintf(format, args...)}
}

// The iptables-restore forms' fixed lines, as OSM v1.x printed them.
const (
	restoreCommand = "iptables-restore --noflush <<EOF"
	restoreEnd     = "EOF"
	commandSep     = " && "
)

// recording is a recorded command split into its chains and rules, each
// rule checked against the grammar of OSM's generators (record_grammar.go).
type recording struct {
	restore bool
	names   chainNames
	chains  []string
	rules   []Rule
	// where[i] locates rules[i] in the script, for the render-back error.
	where []string
}

// ParseOSMInit reads the shell script OSM's osm-init init container would
// have run (the second element of its args, after `/bin/sh -c`) and
// returns the Config whose IPv4 rendering it is. It accepts the three
// shapes OSM's generators printed: v0.8-v0.11's `iptables -t nat ...`
// commands joined by " && " (profile osm-v0), and the
// `iptables-restore --noflush <<EOF` here-document of OSM v1.0.x (osm-v1.0,
// told apart by its missing `--dport 15904` rule) and of v1.1+ and osm-edge
// (osm-v1). One final newline is optional, as OSM v1 printed one and v0
// none. A `-j DNAT --to-destination $POD_IP` rule means LocalProxyMode
// PodIP; the Config then has no PodIPs, and the caller adds the pod's
// address (from the CNI result) before Build. osm-edge's
// `-d 127.0.0.153 --dport 53` DNAT rule means LocalDNSProxy.
//
// It is strict: only the nat table, the generation's four chains, and the
// matches, targets, ports (15000, 15001, 15003, the excluded inbound ports,
// 53) and proxy uid 1500 OSM wrote; no other shell syntax (a `;`, `$(...)`
// or backquote is refused, not run). Then Build(cfg, IPv4) rendered with
// RenderOSMInit must give the script back byte for byte, so an accepted
// script is exactly the rules mesh-cni installs; the error otherwise names
// the first rule that differs. A refusal is a *RecordError.
//
// One deviation is accepted: a multiport port list longer than 15 ports.
// OSM wrote it as one rule, which iptables refuses, so osm-init failed and
// the pod never started; the list is the same Config, and Build writes it
// as consecutive rules of at most 15, so the script is compared with
// Build's rendering after those split rules are joined back (mesh-cni's own
// split rendering is accepted too). IPv6 ranges in the script are refused:
// OSM wrote only IPv4 rules, and iptables refuses an IPv6 range in them.
func ParseOSMInit(script string) (Config, error) {
	body := strings.TrimSuffix(script, "\n")
	var rec *recording
	var err error
	switch {
	case strings.TrimSpace(script) == "":
		return Config{}, recordErr("", "empty: no osm-init command was recorded")
	case strings.HasPrefix(body, "ip6tables"):
		return Config{}, recordErr("", "%q: OSM's osm-init wrote IPv4 rules only (iptables)", firstWord(body))
	case strings.HasPrefix(body, "iptables-restore"):
		rec, err = parseRestoreForm(body)
	default:
		rec, err = parseCommandForm(body)
	}
	if err != nil {
		return Config{}, err
	}
	cfg, err := rec.config()
	if err != nil {
		return Config{}, err
	}
	return cfg, rec.renderedBack(cfg, body)
}

// parseCommandForm reads OSM v0's commands, each `iptables -t nat -N CHAIN`
// or `iptables -t nat -A|-I CHAIN ...`, joined by exactly " && ".
func parseCommandForm(body string) (*recording, error) {
	rec := &recording{names: profileChains(ProfileOSMv0)}
	for i, cmd := range strings.Split(body, commandSep) {
		where := fmt.Sprintf("iptables command %d", i+1)
		toks, err := tokens(cmd)
		if err != nil {
			return nil, recordErr(where, "%v", err)
		}
		switch {
		case toks[0] != "iptables":
			return nil, recordErr(where, "%q where osm-init ran \"iptables\"", toks[0])
		case len(toks) < 3 || toks[1] != "-t":
			return nil, recordErr(where, "no table: osm-init's commands began \"iptables -t nat\"")
		case toks[2] != Table:
			return nil, recordErr(where, "table %q: osm-init wrote only the nat table", toks[2])
		case len(toks) == 3:
			return nil, recordErr(where, "nothing after \"iptables -t nat\"")
		case toks[3] == "-N":
			if err := rec.declare(toks[4:]); err != nil {
				return nil, recordErr(where, "%v", err)
			}
			continue
		}
		if err := rec.addRule(where, toks[3:]); err != nil {
			return nil, err
		}
	}
	return rec, nil
}

// parseRestoreForm reads OSM v1's here-document: the command line, its
// comment, *nat, the chain declarations, the rules, COMMIT and EOF.
func parseRestoreForm(body string) (*recording, error) {
	rec := &recording{restore: true, names: profileChains(ProfileOSMv1)}
	lines := strings.Split(body, "\n")
	line := func(i int) string { return fmt.Sprintf("line %d", i+1) }
	next := func(i int, want string) error {
		if i == len(lines) {
			return recordErr("", "truncated: it ends after line %d, before %q", i, want)
		}
		if lines[i] != want {
			return recordErr(line(i), "%q where osm-init wrote %q", lines[i], want)
		}
		return nil
	}
	if err := next(0, restoreCommand); err != nil {
		return nil, err
	}
	if err := next(1, restoreHeader); err != nil {
		return nil, err
	}
	if len(lines) > 2 && strings.HasPrefix(lines[2], "*") && lines[2] != "*"+Table {
		return nil, recordErr(line(2), "table %q: osm-init wrote only the nat table", lines[2][1:])
	}
	if err := next(2, "*"+Table); err != nil {
		return nil, err
	}
	i := 3
	for ; i < len(lines) && strings.HasPrefix(lines[i], ":"); i++ {
		name, ok := strings.CutSuffix(lines[i][1:], " - [0:0]")
		if !ok {
			return nil, recordErr(line(i), "%q: osm-init declared chains as \":NAME - [0:0]\"", lines[i])
		}
		if err := rec.declare([]string{name}); err != nil {
			return nil, recordErr(line(i), "%v", err)
		}
	}
	for ; i < len(lines) && strings.HasPrefix(lines[i], "-"); i++ {
		toks, err := tokens(lines[i])
		if err != nil {
			return nil, recordErr(line(i), "%v", err)
		}
		if err := rec.addRule(line(i), toks); err != nil {
			return nil, err
		}
	}
	if err := next(i, "COMMIT"); err != nil {
		return nil, err
	}
	if err := next(i+1, restoreEnd); err != nil {
		return nil, err
	}
	if i+2 < len(lines) {
		extra := fmt.Sprintf("%q", lines[i+2])
		if lines[i+2] == "" {
			extra = "an empty line"
		}
		return nil, recordErr(line(i+2), "%s after the here-document's EOF: osm-init's script ended there", extra)
	}
	return rec, nil
}

// shellMeta are the characters sh would give a meaning to, in a command or
// in an unquoted here-document; OSM wrote none inside a rule.
const shellMeta = ";&|`$()<>\\\"'*?[]{}~#\t\r\n"

// tokens splits a rule, a chain declaration or a command at single spaces,
// refusing empty arguments and shell syntax (but the token "$POD_IP",
// which osm-init's shell expanded from the pod's environment).
func tokens(s string) ([]string, error) {
	toks := strings.Split(s, " ")
	for _, t := range toks {
		switch {
		case t == "":
			return nil, fmt.Errorf("an empty argument (two spaces in a row, or a space at an end) in %q", s)
		case t == "&&":
			return nil, fmt.Errorf("a stray \"&&\" (an empty command: osm-init joined commands with one \" && \")")
		case t == PodIPPlaceholder:
		case strings.ContainsAny(t, shellMeta):
			c := t[strings.IndexAny(t, shellMeta)]
			return nil, fmt.Errorf("shell syntax %q in %q: osm-init never wrote it, and the shell would interpret it", c, t)
		}
	}
	return toks, nil
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	w, _, _ = strings.Cut(w, "\n")
	return w
}

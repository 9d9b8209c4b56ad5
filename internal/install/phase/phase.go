// Package phase names the installer's phases. The line that says a phase
// was reached carries its name as the value of Key, so that an operator
// can see how far an installer got (`kubectl -n mesh-cni logs ds/mesh-cni
// | jq -r 'select(.phase) | .phase + " " + .msg'`), and the SIGKILL test
// where each of its kills landed. A phase is logged once per installer
// process when it is first reached, and again whenever it is redone.
package phase

// Key is the log key whose value is the phase.
const Key = "phase"

// The phases, in the order of an install: the chain entry, which sends pods
// to the agent and the binary, comes last.
const (
	// AgentServing: the node agent answers on its socket.
	AgentServing = "agent_serving"
	// BinaryInstalled: the plugin binary is complete in a CNI bin dir
	// (copied, or found with the image's content).
	BinaryInstalled = "binary_installed"
	// EntryInstalled: mesh-cni's entry is in the primary CNI config
	// (written, or found there).
	EntryInstalled = "entry_installed"
	// Ready: a whole pass of the install is done.
	Ready = "ready"
)

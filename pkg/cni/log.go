package cni

import (
	"io"
	"log/slog"
	"os"
)

// logOutput is where every log line goes: the runtime (containerd, CRI-O)
// captures a plugin's stderr and shows it with the failing call.
var logOutput io.Writer = os.Stderr

// newLogger returns a logger at the config's level whose every line
// carries the pod and the command.
func newLogger(level slog.Level, command string, pod podRef) *slog.Logger {
	h := slog.NewTextHandler(logOutput, &slog.HandlerOptions{Level: level})
	return slog.New(h).With("plugin", "mesh-cni", "command", command, "namespace", pod.Namespace, "pod", pod.Name)
}

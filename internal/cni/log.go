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
// carries the pod and the command. Times are in UTC: the local zone would
// be read from /etc/localtime by every plugin process that logs a line.
func newLogger(level slog.Level, command string, pod podRef) *slog.Logger {
	h := slog.NewTextHandler(logOutput, &slog.HandlerOptions{Level: level, ReplaceAttr: utcTime})
	return slog.New(h).With("plugin", "mesh-cni", "command", command, "namespace", pod.Namespace, "pod", pod.Name)
}

// utcTime writes the record's time in UTC.
func utcTime(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey && len(groups) == 0 && a.Value.Kind() == slog.KindTime {
		a.Value = slog.TimeValue(a.Value.Time().UTC())
	}
	return a
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// phase is a testing.TB for one part of the benchmark run, so that the
// test harnesses (test/cluster, test/netns, test/cnirun), which report
// through testing.TB and clean up with t.Cleanup, serve a main program.
// Fatal ends the phase (a panic that runPhase recovers) after running its
// cleanups, as in a test; it must be called from the phase's goroutine.
type phase struct {
	// TB is nil: embedding it only supplies TB's unexported method. Every
	// method the harnesses call is defined below.
	testing.TB

	name     string
	ctx      context.Context
	mu       sync.Mutex
	errs     []string
	cleanups []func()
}

// fatal is what FailNow panics with.
type fatal struct{}

// runPhase runs f with a fresh phase, then its cleanups (last registered
// first, as testing does), and returns an error listing what failed.
func runPhase(ctx context.Context, name string, f func(t *phase)) (err error) {
	t := &phase{name: name, ctx: ctx}
	start := time.Now()
	t.Logf("start")
	defer func() {
		r := recover()
		t.runCleanups()
		if _, ok := r.(fatal); r != nil && !ok {
			panic(r)
		}
		if t.Failed() {
			err = fmt.Errorf("%s: %s", name, strings.Join(t.errs, "; "))
		}
		t.Logf("done in %.1fs", time.Since(start).Seconds())
	}()
	f(t)
	return nil
}

func (t *phase) runCleanups() {
	for {
		t.mu.Lock()
		n := len(t.cleanups)
		if n == 0 {
			t.mu.Unlock()
			return
		}
		f := t.cleanups[n-1]
		t.cleanups = t.cleanups[:n-1]
		t.mu.Unlock()
		func() {
			defer func() {
				if r := recover(); r != nil {
					if _, ok := r.(fatal); !ok {
						t.Errorf("cleanup panicked: %v", r)
					}
				}
			}()
			f()
		}()
	}
}

// Cleanup registers f to run when the phase ends.
func (t *phase) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

// Error logs and marks the phase failed.
func (t *phase) Error(args ...any) { t.Errorf("%s", fmt.Sprint(args...)) }

// Errorf logs and marks the phase failed.
func (t *phase) Errorf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	t.mu.Lock()
	t.errs = append(t.errs, msg)
	t.mu.Unlock()
	t.Logf("ERROR: %s", msg)
}

// Fail marks the phase failed.
func (t *phase) Fail() { t.Errorf("failed") }

// FailNow ends the phase.
func (t *phase) FailNow() {
	if !t.Failed() {
		t.Fail()
	}
	panic(fatal{})
}

// Failed says whether anything failed.
func (t *phase) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.errs) > 0
}

// Fatal logs and ends the phase.
func (t *phase) Fatal(args ...any) { t.Error(args...); t.FailNow() }

// Fatalf logs and ends the phase.
func (t *phase) Fatalf(format string, args ...any) { t.Errorf(format, args...); t.FailNow() }

// Helper does nothing: log lines carry no file positions.
func (t *phase) Helper() {}

// Log prints a line to stderr.
func (t *phase) Log(args ...any) { t.Logf("%s", fmt.Sprint(args...)) }

// Logf prints a line to stderr, stamped with the time and the phase.
func (t *phase) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s [%s] %s\n", time.Now().Format("15:04:05.000"), t.name, fmt.Sprintf(format, args...))
}

// Name is the phase's name.
func (t *phase) Name() string { return t.name }

// Setenv sets an environment variable until the phase ends.
func (t *phase) Setenv(key, value string) {
	old, had := os.LookupEnv(key)
	if err := os.Setenv(key, value); err != nil {
		t.Fatalf("setenv %s: %v", key, err)
	}
	t.Cleanup(func() {
		if had {
			os.Setenv(key, old)
		} else {
			os.Unsetenv(key)
		}
	})
}

// Chdir changes the working directory until the phase ends.
func (t *phase) Chdir(dir string) {
	old, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatalf("chdir %s: %v", dir, err)
	}
	t.Cleanup(func() { os.Chdir(old) })
}

// Skip is a failure here: a benchmark that cannot measure must say so.
func (t *phase) Skip(args ...any) { t.Fatal(append([]any{"cannot run: "}, args...)...) }

// SkipNow is a failure here, as Skip.
func (t *phase) SkipNow() { t.Fatal("cannot run") }

// Skipf is a failure here, as Skip.
func (t *phase) Skipf(format string, args ...any) { t.Fatalf("cannot run: "+format, args...) }

// Skipped is always false: see Skip.
func (t *phase) Skipped() bool { return false }

// TempDir makes a directory removed when the phase ends.
func (t *phase) TempDir() string {
	dir, err := os.MkdirTemp("", "mesh-cni-bench-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// ArtifactDir is a TempDir: the run keeps no artifacts beyond the report.
func (t *phase) ArtifactDir() string { return t.TempDir() }

// Attr logs the attribute.
func (t *phase) Attr(key, value string) { t.Logf("%s=%s", key, value) }

// Context is cancelled when the run is interrupted.
func (t *phase) Context() context.Context { return t.ctx }

// Output is stderr, where the log goes.
func (t *phase) Output() io.Writer { return os.Stderr }

// checkInterrupt ends the phase when the run was interrupted (SIGINT or
// SIGTERM), so that cleanups still run.
func (t *phase) checkInterrupt() {
	if err := t.ctx.Err(); err != nil {
		t.Fatalf("interrupted: %v", err)
	}
}

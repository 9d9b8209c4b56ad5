package server

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// nobody is the uid and gid a non-root user of the node has in these tests.
const nobody = 65534

// asNobody runs f on an OS thread of its own whose uid, gid and groups are
// nobody's, with no capabilities left (setresuid away from root drops
// them): the permission checks any non-root process on the node meets.
// Credentials belong to the thread, so the rest of the test stays root.
func asNobody(t *testing.T, f func() error) error {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root, to become another user")
	}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the goroutine's end ends the thread, so no other
		// goroutine runs with its credentials.
		runtime.LockOSThread()
		for _, call := range [][4]uintptr{{unix.SYS_SETGROUPS, 0, 0, 0}, {unix.SYS_SETRESGID, nobody, nobody, nobody}, {unix.SYS_SETRESUID, nobody, nobody, nobody}} {
			if _, _, e := unix.RawSyscall(call[0], call[1], call[2], call[3]); e != 0 {
				errc <- errors.New("dropping to nobody: " + e.Error())
				return
			}
		}
		if uid, _, _ := unix.RawSyscall(unix.SYS_GETEUID, 0, 0, 0); uid != nobody {
			errc <- errors.New("the thread is not nobody's")
			return
		}
		errc <- f()
	}()
	return <-errc
}

// connect dials the unix socket at path with plain system calls, on the
// calling thread.
func connect(path string) error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Connect(fd, &unix.SockaddrUnix{Name: path})
}

// TestSocketIsRootOnly: another user of the node can neither talk to the
// agent nor put a socket of theirs in its place, though it can see the
// directory (the DaemonSet's hostPath is 0755, as kubelet makes it).
func TestSocketIsRootOnly(t *testing.T) {
	base := t.TempDir()
	// Let nobody reach the directory, as on the node.
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(base, "run", "agent.sock")
	ln, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := connect(sock); err != nil {
		t.Fatalf("root cannot connect: %v", err)
	}

	err = asNobody(t, func() error {
		var errs []error
		if err := connect(sock); !errors.Is(err, unix.EACCES) {
			errs = append(errs, errors.New("connect: "+errString(err)+", want EACCES"))
		}
		if err := unix.Unlink(sock); !errors.Is(err, unix.EACCES) {
			errs = append(errs, errors.New("unlink the socket: "+errString(err)+", want EACCES"))
		}
		fd, err := unix.Open(filepath.Join(base, "run", "fake.sock"), unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o666)
		if err == nil {
			unix.Close(fd)
		}
		if !errors.Is(err, unix.EACCES) {
			errs = append(errs, errors.New("create a file beside it: "+errString(err)+", want EACCES"))
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Errorf("as uid %d: %v", nobody, err)
	}

	// The refusal is the socket's mode: opened to all, nobody connects.
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := asNobody(t, func() error { return connect(sock) }); err != nil {
		t.Errorf("as uid %d with the socket 0666: %v; the test's user cannot connect at all", nobody, err)
	}
}

// TestListenRefusesADirectoryOthersWrite: whoever may write the socket's
// directory could replace the socket.
func TestListenRefusesADirectoryOthersWrite(t *testing.T) {
	base := t.TempDir()
	open, theirs := filepath.Join(base, "open"), filepath.Join(base, "theirs")
	for _, d := range []string{open, theirs} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(open, 0o1777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(theirs, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]string{open: "writable by others", theirs: "belongs to uid 65534"} {
		ln, err := Listen(filepath.Join(dir, "agent.sock"))
		if err == nil {
			ln.Close()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Listen in %s: %v, want an error with %q", dir, err, want)
		}
		if _, err := os.Lstat(filepath.Join(dir, "agent.sock")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Listen in %s left a socket: %v", dir, err)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "succeeded"
	}
	return err.Error()
}

package apply

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mesh-cni/mesh-cni/internal/rules"
)

// commandTimeout bounds one iptables program; they take milliseconds, and a
// hung one must not hold a pod's sandbox creation forever.
const commandTimeout = time.Minute

// proc is an iptables program started and not yet waited for.
//
// Its standard input, output and error are memory files, not pipes. With
// pipes, os/exec's Wait also waits for copying goroutines to see every copy
// of the pipe closed; with 50 pods applied at once on a loaded 2-core
// machine that wait outlasted a 1s WaitDelay after the program had exited,
// and TestApplyConcurrently took 11s instead of 3s. A file needs no copying
// goroutine and nothing to wait for but the process.
type proc struct {
	what   string // "iptables-save (nft, IPv4)"
	cmd    *exec.Cmd
	cancel context.CancelFunc
	stdin  string
	files  [3]*os.File // stdin, stdout, stderr
}

// start starts an iptables program from the calling (worker) thread, so
// that it runs in that thread's namespaces.
func start(b Backend, fam rules.Family, t tool, env []string, stdin string, args ...string) (*proc, error) {
	p := &proc{what: fmt.Sprintf("%s (%s, %s)", command(fam, t), b, fam), stdin: stdin}
	path, err := toolPath(b, fam, t)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.what, err)
	}
	for i, name := range []string{"stdin", "stdout", "stderr"} {
		if p.files[i], err = memFile(name); err != nil {
			p.close()
			return nil, fmt.Errorf("%s: %w", p.what, err)
		}
	}
	if _, err := p.files[0].WriteString(stdin); err != nil {
		p.close()
		return nil, fmt.Errorf("%s: %w", p.what, err)
	}
	if _, err := p.files[0].Seek(0, io.SeekStart); err != nil {
		p.close()
		return nil, fmt.Errorf("%s: %w", p.what, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	p.cancel = cancel
	p.cmd = exec.CommandContext(ctx, path, args...)
	p.cmd.Env = env
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = p.files[0], p.files[1], p.files[2]
	if err := p.cmd.Start(); err != nil {
		p.close()
		return nil, fmt.Errorf("%s: %w", p.what, err)
	}
	return p, nil
}

// wait waits for the program; the error names it and carries its stderr.
func (p *proc) wait() (string, error) {
	defer p.close()
	err := p.cmd.Wait()
	stdout, rerr := readAll(p.files[1])
	if err != nil {
		stderr, _ := readAll(p.files[2])
		return "", fmt.Errorf("%s: %w: %s", p.what, err, explain(stderr, p.stdin))
	}
	if rerr != nil {
		return "", fmt.Errorf("%s: read output: %w", p.what, rerr)
	}
	return stdout, nil
}

func (p *proc) close() {
	if p.cancel != nil {
		p.cancel()
	}
	for _, f := range p.files {
		if f != nil {
			f.Close()
		}
	}
}

// memFile is an anonymous file in memory.
func memFile(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate("mesh-cni-"+name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

func readAll(f *os.File) (string, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	b, err := io.ReadAll(f)
	return string(b), err
}

// errorLine is how iptables-restore points into its input; it is found
// with plain string functions, not a package-level regexp, which every
// start of the short-lived plugin process would compile (10 of its ~330
// page faults, measured over 1000 starts).
const errorLine = "Error occurred at line: "

// explain puts iptables' stderr on one line and, where it names a line of
// the document it was fed, quotes that line: nobody reading a pod's events
// has the document at hand.
func explain(stderr, doc string) string {
	var parts []string
	for _, l := range strings.Split(stderr, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "Try `") {
			parts = append(parts, l)
		}
	}
	msg := strings.Join(parts, "; ")
	if _, after, ok := strings.Cut(msg, errorLine); ok {
		digits := strings.IndexFunc(after, func(r rune) bool { return r < '0' || r > '9' })
		if digits < 0 {
			digits = len(after)
		}
		n, err := strconv.Atoi(after[:digits])
		if lines := strings.Split(doc, "\n"); err == nil && n >= 1 && n <= len(lines) {
			msg += fmt.Sprintf(" (%q)", lines[n-1])
		}
	}
	return msg
}

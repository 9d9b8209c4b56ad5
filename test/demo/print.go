package main

import (
	"fmt"
	"strings"
)

// header starts a step with one line of what it shows and why.
func (d *demo) header(what string) {
	d.step++
	fmt.Printf("\n==> %d. %s\n", d.step, what)
}

// note prints a line of the demo's own, indented under its step.
func (d *demo) note(format string, args ...any) {
	fmt.Printf("    "+format+"\n", args...)
}

// kubectl runs kubectl against the node and returns its stdout; it is a
// cluster.KubectlFunc.
func (d *demo) kubectl(stdin []byte, args ...string) (string, error) {
	d.halted()
	return d.node.KubectlStdin(stdin, args...)
}

// show runs kubectl as a person would with KUBECONFIG set, printing the
// command line and its output.
func (d *demo) show(args ...string) (string, error) {
	return d.showStdin("", args...)
}

// showStdin is show with a manifest on stdin, printed as a here-document.
func (d *demo) showStdin(stdin string, args ...string) (string, error) {
	if stdin != "" {
		fmt.Printf("$ kubectl %s <<EOF\n%sEOF\n", shellJoin(args), stdin)
	} else {
		fmt.Printf("$ kubectl %s\n", shellJoin(args))
	}
	var in []byte
	if stdin != "" {
		in = []byte(stdin)
	}
	out, err := d.kubectl(in, args...)
	printBlock(out)
	return out, err
}

// printBlock prints command output, ending it with a newline.
func printBlock(out string) {
	if out == "" {
		return
	}
	fmt.Print(out)
	if !strings.HasSuffix(out, "\n") {
		fmt.Println()
	}
}

// shellJoin quotes the arguments that a shell would split or expand.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n\"'$`\\|&;<>()*?[]{}!#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

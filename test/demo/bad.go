package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/mesh-cni/mesh-cni/test/podcheck"
)

// showBadAnnotation: a configuration mesh-cni cannot apply keeps the pod
// from starting, and says why where the user looks.
func (d *demo) showBadAnnotation() error {
	d.header("A mistake: the annotation " + portAnno + ": \"70000\" is not a port. mesh-cni refuses to start the pod without its rules: it stays in ContainerCreating, and its events name the value")
	var msg string
	if err := poll(90*time.Second, func() error {
		evs, err := podcheck.Events(d.kubectl, nsDemo, podBad, "FailedCreatePodSandBox")
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if strings.Contains(ev.Message, "70000") {
				msg = ev.Message
				return nil
			}
		}
		return fmt.Errorf("no FailedCreatePodSandBox event naming 70000 on %s/%s (events: %d)", nsDemo, podBad, len(evs))
	}); err != nil && d.podAge(podBad) < time.Hour {
		return err
	}
	out, err := d.show("get", "pod", "-n", nsDemo, podBad)
	if err != nil {
		return err
	}
	if !strings.Contains(out, "ContainerCreating") {
		return fmt.Errorf("pod %s is not in ContainerCreating:\n%s", podBad, out)
	}
	if _, err := d.show("get", "events", "-n", nsDemo, "--field-selector", "involvedObject.name="+podBad, "--sort-by=.lastTimestamp"); err != nil {
		return err
	}
	if msg == "" {
		d.note("ok: ContainerCreating (its events have expired: Events last an hour)")
		return nil
	}
	d.note("ok: ContainerCreating, and kubelet's FailedCreatePodSandBox names the value 70000")
	return nil
}

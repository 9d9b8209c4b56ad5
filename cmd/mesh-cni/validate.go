package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mesh-cni/mesh-cni/internal/rules"
	"github.com/mesh-cni/mesh-cni/internal/validate"
)

// defaultValidateTimeout bounds the check: rules are in place before any
// container of the pod starts, so a wait only covers a slow first dial.
const defaultValidateTimeout = 5 * time.Second

// runValidate is `mesh-cni validate`: the probe of the profile's default
// configuration (the webhook adds the container only when the pod's own
// exclusions leave the probe's path alone).
func runValidate(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	profile := fs.String("profile", string(rules.ProfileOSMv1), "")
	timeout := fs.Duration("timeout", defaultValidateTimeout, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: validate: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: validate: unexpected argument %q", errUsage, fs.Arg(0))
	}
	p, err := rules.ParseProfile(*profile)
	if err != nil {
		return fmt.Errorf("%w: validate: --profile: %v", errUsage, err)
	}
	if *timeout <= 0 {
		return fmt.Errorf("%w: validate: --timeout: want a positive duration, got %s", errUsage, *timeout)
	}
	probe, err := validate.ProbeFor(rules.DefaultConfig(p))
	if err != nil {
		return fmt.Errorf("validate: %w", err)
	}
	if uid := os.Getuid(); uid != int(probe.UID) {
		// The rules match the socket's owner: as another uid the probe
		// would fail on a pod with rules, and the pod be repaired in vain.
		return fmt.Errorf("validate: running as uid %d, but profile %s's probe must run as uid %d (the container's runAsUser)", uid, p, probe.UID)
	}
	if err := validate.Run(context.Background(), probe, *timeout); err != nil {
		return fmt.Errorf("validate: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "mesh-cni validate: %s redirected to %s as the %s rules do\n", probe.Dial, probe.Listen, p)
	return err
}

//go:build e2e

package e2e

import (
	"testing"
	"time"

	"github.com/mesh-cni/mesh-cni/test/images"
)

// appImage is test/images' App; pods use it with imagePullPolicy: Never.
const appImage = images.App

// buildImages writes the mesh-cni image and the app image (test/images, as
// `make demo` does) and loads both onto the cluster's node. Nothing is pulled.
func buildImages(t *testing.T, e *env) {
	start := time.Now()
	tars, err := images.Build(e.repo, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tar := range tars {
		e.load(t, tar)
	}
	t.Logf("images built and loaded in %.1fs", time.Since(start).Seconds())
}

package trainer

import (
	"os"
	"sync"
	"testing"

	"github.com/fomo-grid/grid/engine/cpu"
	"github.com/fomo-grid/grid/engine/demo"
)

var (
	demoOnce sync.Once
	demoRoot string
	demoErr  error
)

// sharedDemo is the built-in demo, written once per test process (its
// model takes a while to pre-train). Tests only read it; their caches and
// outputs go elsewhere.
func sharedDemo(t *testing.T) string {
	t.Helper()
	demoOnce.Do(func() {
		if demoRoot, demoErr = os.MkdirTemp("", "grid-trainer-demo-"); demoErr == nil {
			demoErr = demo.Write(demoRoot, cpu.New(), nil)
		}
	})
	if demoErr != nil {
		t.Fatalf("demo: %v", demoErr)
	}
	return demoRoot
}

// TestMain removes the shared demo.
func TestMain(m *testing.M) {
	code := m.Run()
	if demoRoot != "" {
		os.RemoveAll(demoRoot)
	}
	os.Exit(code)
}

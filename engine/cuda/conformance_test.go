package cuda

import (
	"testing"

	"github.com/fomo-grid/grid/engine/backend"
	"github.com/fomo-grid/grid/engine/backend/backendtest"
)

// TestConformanceEmulated runs the backend conformance suite on the
// emulated GPU at fp32: the kernels' arithmetic, the launch arguments, the
// cuBLASLt layouts and the graph replay, against the float64 reference.
func TestConformanceEmulated(t *testing.T) {
	opts := emuOptions(t)
	rt, err := Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	backendtest.Run(t, func() backend.Backend {
		b, err := New(rt, Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	})
}

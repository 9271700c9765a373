package cuda

import (
	"os"
	"testing"

	"github.com/fomo-grid/grid/engine/backend"
	"github.com/fomo-grid/grid/engine/backend/backendtest"
)

// precisionBits is each precision's significand, for the suite's
// tolerances.
var precisionBits = map[Precision]int{FP32: 24, FP16: 11, BF16: 8}

// runConformance runs the backend conformance suite on rt's device 0 at a
// precision.
func runConformance(t *testing.T, rt *Runtime, p Precision) {
	// A backend that cannot be made fails here, once; the suite's
	// subtests then make theirs the same way.
	first, err := New(rt, Config{Precision: p})
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	backendtest.RunWith(t, func() backend.Backend {
		b, err := New(rt, Config{Precision: p})
		if err != nil {
			panic(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}, backendtest.Options{Bits: precisionBits[p]})
}

// envEmuAllPrecisions also runs the suite at fp16 and bf16 on the
// emulator (some 3 minutes more on two cores); by default the 16-bit paths
// are covered by TestSixteenBitPrecisionsAgreeWithFP32 and, on a GPU, by
// TestConformanceCUDA at every precision.
const envEmuAllPrecisions = "GRID_CUDA_EMU_ALL_PRECISIONS"

// TestConformanceEmulated runs the backend conformance suite on the
// emulated GPU: the kernels' arithmetic, the launch arguments, the cuBLASLt
// layouts and the graph replay, against the float64 reference.
func TestConformanceEmulated(t *testing.T) {
	rt, err := Load(emuOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []Precision{FP32, FP16, BF16} {
		t.Run(p.String(), func(t *testing.T) {
			if p != FP32 && os.Getenv(envEmuAllPrecisions) == "" {
				t.Skipf("set %s=1 to run the suite at %s on the emulator too", envEmuAllPrecisions, p)
			}
			runConformance(t, rt, p)
		})
	}
}

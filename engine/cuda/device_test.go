package cuda

import "testing"

// The tests named *CUDA run on this machine's GPU and are skipped, saying
// what is missing, where CUDA is not usable (CI, this project's
// development machines). The device check (gpucheck/run.sh) runs them.

// realRuntime is this machine's CUDA stack, or the test is skipped.
func realRuntime(tb testing.TB) *Runtime {
	tb.Helper()
	if err := Usable(); err != nil {
		tb.Skipf("CUDA is not usable here: %v", err)
	}
	rt, _ := Default()
	return rt
}

// TestConformanceCUDA runs the backend conformance suite on the GPU at
// every precision, with the tolerances of each precision's significand.
func TestConformanceCUDA(t *testing.T) {
	rt := realRuntime(t)
	t.Logf("%s", rt)
	for _, p := range []Precision{FP32, FP16, BF16} {
		t.Run(p.String(), func(t *testing.T) { runConformance(t, rt, p) })
	}
}

// TestCPUAndCUDASelectTheSameTokens: 20 training steps of the demo model
// select the same tokens on the CPU and on the GPU.
func TestCPUAndCUDASelectTheSameTokens(t *testing.T) {
	rt := realRuntime(t)
	b, err := New(rt, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	checkSelectionAgreement(t, b)
}

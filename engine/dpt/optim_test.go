package dpt

import (
	"math"
	"strings"
	"testing"

	"github.com/fomo-grid/grid/engine/backend"
	"github.com/fomo-grid/grid/engine/cpu"
)

func TestLRMatchesDassl(t *testing.T) {
	// §1.4 of the reference semantics: T=8, base 0.0035, 1 warmup epoch at 1e-5.
	want := []float64{1e-5, .0035, .0033668, .0029874, .0024197, .00175, .0010803, .00051256}
	for e, w := range want {
		got := LR(e, 8, 0.0035, 1e-5, 1)
		if math.Abs(got-w) > 5e-5*w {
			t.Errorf("LR(%d) = %.8g, want %.8g", e, got, w)
		}
	}
	// Without warmup the cosine starts at epoch 0; with two warmup epochs
	// it starts at epoch 2 from the full base rate.
	if got := LR(0, 8, 0.0035, 1e-5, 0); got != 0.0035 {
		t.Errorf("no warmup: LR(0) = %g", got)
	}
	if got := LR(4, 8, 0.0035, 1e-5, 0); math.Abs(got-0.00175) > 1e-12 {
		t.Errorf("no warmup: LR(4) = %g, want 0.00175", got)
	}
	if LR(1, 8, 0.0035, 1e-5, 2) != 1e-5 || LR(2, 8, 0.0035, 1e-5, 2) != 0.0035 {
		t.Errorf("two warmup epochs: %g %g", LR(1, 8, 0.0035, 1e-5, 2), LR(2, 8, 0.0035, 1e-5, 2))
	}
}

func near(a, b float32) bool { return math.Abs(float64(a-b)) < 1e-6 }

// param uploads value and grad (nil: no gradient) to b.
func param(t *testing.T, b backend.Backend, name string, value, grad []float32) Param {
	t.Helper()
	p := Param{Name: name}
	var err error
	if p.Value, err = backend.FromHost(b, value); err != nil {
		t.Fatal(err)
	}
	if grad != nil {
		if p.Grad, err = backend.FromHost(b, grad); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func host(t *testing.T, b backend.Backend, buf backend.Buffer) []float32 {
	t.Helper()
	if buf == nil {
		return nil
	}
	out, err := backend.ToHost(b, buf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSGDMomentumAndDecay(t *testing.T) {
	b := cpu.New()
	opt := NewSGD(b, 0.9, 0.1)
	p := param(t, b, "w", []float32{1, -2}, []float32{0.5, 0.25})
	// Step 1: g = grad + 0.1·p = [0.6, 0.05]; buf = g; p -= 0.1·g.
	if err := opt.Step(0.1, []Param{p}); err != nil {
		t.Fatal(err)
	}
	if v := host(t, b, p.Value); !near(v[0], 0.94) || !near(v[1], -2.005) {
		t.Fatalf("after step 1: %v, want [0.94 -2.005]", v)
	}
	if buf := host(t, b, opt.Buffer("w")); !near(buf[0], 0.6) || !near(buf[1], 0.05) {
		t.Fatalf("buffer after step 1: %v, want [0.6 0.05]", buf)
	}
	// Step 2: g = [0.594, 0.0495]; buf = 0.9·buf + g = [1.134, 0.0945].
	if err := opt.Step(0.1, []Param{p}); err != nil {
		t.Fatal(err)
	}
	if v := host(t, b, p.Value); !near(v[0], 0.8266) || !near(v[1], -2.01445) {
		t.Errorf("after step 2: %v, want [0.8266 -2.01445]", v)
	}
	if host(t, b, p.Grad)[0] != 0.5 {
		t.Error("Step must not modify the gradient")
	}
}

func TestSGDWithoutMomentumAndNilGrads(t *testing.T) {
	b := cpu.New()
	opt := NewSGD(b, 0, 5e-4) // plain gradient descent
	frozen := param(t, b, "frozen", []float32{3}, nil)
	p := param(t, b, "w", []float32{2}, []float32{1})
	if err := opt.Step(0.5, []Param{frozen, p}); err != nil {
		t.Fatal(err)
	}
	if v := host(t, b, frozen.Value); v[0] != 3 {
		t.Errorf("a parameter without gradient changed (no decay either): %v", v)
	}
	if v := host(t, b, p.Value); !near(v[0], 2-0.5*(1+5e-4*2)) {
		t.Errorf("p = %v", v)
	}
	if opt.Buffer("w") != nil {
		t.Error("no momentum buffer without momentum")
	}

	// A parameter whose first gradient arrives late starts its buffer then.
	m := NewSGD(b, 0.5, 0)
	late := param(t, b, "late", []float32{1}, nil)
	if err := m.Step(1, []Param{late}); err != nil || m.Buffer("late") != nil {
		t.Fatalf("nil grad created a buffer (%v)", err)
	}
	late.Grad = param(t, b, "", []float32{0.2}, nil).Value
	_ = m.Step(1, []Param{late})
	_ = m.Step(1, []Param{late})
	// buf: 0.2, then 0.5·0.2 + 0.2 = 0.3; p = 1 - 0.2 - 0.3.
	if v := host(t, b, late.Value); !near(v[0], 0.5) {
		t.Errorf("late = %v, want 0.5", v)
	}
}

func TestSGDRejectsMismatchedLengths(t *testing.T) {
	b := cpu.New()
	opt := NewSGD(b, 0.9, 0)
	good := param(t, b, "good", []float32{1}, []float32{1})
	bad := param(t, b, "bad", []float32{1, 2}, []float32{1})
	err := opt.Step(0.1, []Param{good, bad})
	if err == nil || !strings.Contains(err.Error(), "bad") {
		t.Fatalf("want an error naming the parameter, got %v", err)
	}
	if host(t, b, good.Value)[0] != 1 {
		t.Error("no parameter may be updated when the step is rejected")
	}
}

package registry

import (
	"slices"
	"strings"
	"testing"
)

func TestOpenByName(t *testing.T) {
	if got := Names(); !slices.Equal(got, []string{"auto", "cuda", "cpu"}) {
		t.Fatalf("Names() = %v", got)
	}
	b, err := Open("cpu")
	if err != nil || b.Name() != "cpu" || b.Device() == "" {
		t.Fatalf("Open(cpu) = %v, %v", b, err)
	}
	if again, _ := Open("cpu"); again != b {
		t.Error("a backend is made once per process")
	}
	if _, err := Open("tpu"); err == nil || !strings.Contains(err.Error(), `"tpu"`) || !strings.Contains(err.Error(), "auto, cuda, cpu") {
		t.Errorf("unknown backend: %v", err)
	}
}

// Auto takes the first usable backend and says why it passed over the
// others; a backend that cannot run is a clear error when named.
func TestAutoFallsBack(t *testing.T) {
	name, note, err := Resolve("")
	if err != nil {
		t.Fatal(err)
	}
	_, _, cudaErr := Resolve("cuda")
	if cudaErr != nil {
		if name != "cpu" || !strings.Contains(note, "auto: cpu (not cuda: ") {
			t.Errorf("auto without CUDA took %s, note %q", name, note)
		}
		if !strings.Contains(cudaErr.Error(), `backend "cuda": `) {
			t.Errorf("cuda error %q does not name the backend", cudaErr)
		}
		if _, err := Open("cuda"); err == nil {
			t.Error("Open(cuda) succeeded where Resolve(cuda) fails")
		}
	} else if name != "cuda" {
		t.Errorf("auto with CUDA usable took %s", name)
	}
	if b, err := Open("auto"); err != nil || b.Name() != name {
		t.Errorf("Open(auto) = %v, %v; Resolve took %s", b, err, name)
	}
}

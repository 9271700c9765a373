package pyrandom

import (
	"encoding/json"
	"os"
	"reflect"
	"strconv"
	"testing"
)

// cpythonCase is one seed's numbers as CPython drew them
// (testdata/cpython.py).
type cpythonCase struct {
	Seed      int64            `json:"seed"`
	Uint32    []uint32         `json:"uint32"`
	Bits      [][2]json.Number `json:"bits"` // getrandbits(64) exceeds int64
	Randbelow [][2]int64       `json:"randbelow"`
	Random    []float64        `json:"random"`
	Samples   []struct {
		N, K   int
		Sample []int
	} `json:"samples"`
}

func loadCPython(t *testing.T) []cpythonCase {
	t.Helper()
	b, err := os.ReadFile("testdata/cpython.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Seeds []cpythonCase `json:"seeds"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Seeds) == 0 {
		t.Fatal("no cases in testdata/cpython.json")
	}
	return file.Seeds
}

func TestStreamMatchesCPython(t *testing.T) {
	for _, c := range loadCPython(t) {
		r := New(c.Seed)
		got := make([]uint32, len(c.Uint32))
		for i := range got {
			got[i] = r.Uint32()
		}
		if !reflect.DeepEqual(got, c.Uint32) {
			t.Errorf("seed %d: getrandbits(32) stream %v, CPython %v", c.Seed, got, c.Uint32)
		}

		r = New(c.Seed)
		for _, kv := range c.Bits {
			k, _ := kv[0].Int64()
			want := kv[1].String()
			if got := r.Getrandbits(int(k)); strconv.FormatUint(got, 10) != want {
				t.Errorf("seed %d: getrandbits(%d) = %d, CPython %s", c.Seed, k, got, want)
			}
		}

		r = New(c.Seed)
		for _, nv := range c.Randbelow {
			if got := r.Randbelow(int(nv[0])); int64(got) != nv[1] {
				t.Errorf("seed %d: randrange(%d) = %d, CPython %d", c.Seed, nv[0], got, nv[1])
			}
		}

		r = New(c.Seed)
		for i, want := range c.Random {
			if got := r.Random(); got != want {
				t.Errorf("seed %d: random() #%d = %v, CPython %v", c.Seed, i, got, want)
			}
		}
	}
}

// Both of sample's strategies (a pool when the population is small next to
// k, a set of drawn positions otherwise) and the boundary between them.
func TestSampleMatchesCPython(t *testing.T) {
	for _, c := range loadCPython(t) {
		for _, s := range c.Samples {
			population := make([]int, s.N)
			for i := range population {
				population[i] = i
			}
			got, err := Sample(New(c.Seed), population, s.K)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 && len(s.Sample) == 0 {
				continue
			}
			if !reflect.DeepEqual(got, s.Sample) {
				t.Errorf("seed %d: sample(range(%d), %d) = %v, CPython %v", c.Seed, s.N, s.K, got, s.Sample)
			}
		}
	}
}

func TestSampleRefusesMoreThanThePopulation(t *testing.T) {
	if _, err := Sample(New(1), []int{1, 2}, 3); err == nil {
		t.Error("a sample of 3 from 2 items was drawn")
	}
	if _, err := Sample(New(1), []int{1, 2}, -1); err == nil {
		t.Error("a sample of -1 items was drawn")
	}
}

func TestPoolLimitIsCPythonsSetsize(t *testing.T) {
	// setsize = 21 + 4 ** ceil(log(3k, 4)) for k > 5 (random.sample).
	for k, want := range map[int]int{0: 21, 5: 21, 6: 21 + 64, 16: 21 + 64, 21: 21 + 64, 22: 21 + 256, 100: 21 + 1024} {
		if got := poolLimit(k); got != want {
			t.Errorf("poolLimit(%d) = %d, want %d", k, got, want)
		}
	}
}

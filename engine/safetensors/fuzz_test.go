package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzRead feeds the reader arbitrary files. It must never panic or
// allocate beyond the file; a file it accepts must hold tensors whose
// shapes match their data, and must survive a write and a second read
// unchanged.
func FuzzRead(f *testing.F) {
	dir := f.TempDir()
	good := filepath.Join(dir, "seed.safetensors")
	if err := Write(good, map[string]Tensor{
		"a":      {Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, 6}},
		"scalar": {Shape: []int{}, Data: []float32{7}},
		"empty":  {Shape: []int{0, 4}, Data: []float32{}},
	}, map[string]string{"k": "v"}); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(good)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(withHeader(`{"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, []byte{0, 0x3c, 0, 0xc0}))
	f.Add(withHeader(`{"x":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]},"__metadata__":{"a":"b"}}`, []byte{0x80, 0x3f}))
	f.Add(withHeader(`{"x":{"dtype":"I64","shape":[1,1],"data_offsets":[0,8]}}`, make([]byte, 8)))
	// In memory: the same parser as Read, without a file (and an fsync)
	// per input.
	f.Fuzz(func(t *testing.T, file []byte) {
		tensors, meta, err := readBytes(file)
		if err != nil {
			return
		}
		for name, x := range tensors {
			n := 1
			for _, d := range x.Shape {
				if d != 0 && n > math.MaxInt32/d {
					t.Fatalf("tensor %q: shape %v overflows", name, x.Shape)
				}
				n *= d
			}
			if n != len(x.Data) {
				t.Fatalf("tensor %q: shape %v but %d values", name, x.Shape, len(x.Data))
			}
		}
		header, names, err := encodeHeader("again", tensors, meta)
		if err != nil {
			t.Fatalf("writing back what was read: %v", err)
		}
		var again bytes.Buffer
		if err := writeBody(&again, header, names, tensors); err != nil {
			t.Fatal(err)
		}
		back, _, err := readBytes(again.Bytes())
		if err != nil {
			t.Fatalf("reading back: %v", err)
		}
		for name, x := range tensors {
			y := back[name]
			if !slices.Equal(x.Shape, y.Shape) || !sameBits(x.Data, y.Data) {
				t.Fatalf("tensor %q changed in a round trip", name)
			}
		}
	})
}

func readBytes(b []byte) (map[string]Tensor, map[string]string, error) {
	f, err := openBytes("fuzz", b)
	if err != nil {
		return nil, nil, err
	}
	out := map[string]Tensor{}
	for _, n := range f.Names() {
		if out[n], err = f.Tensor(n); err != nil {
			return nil, nil, err
		}
	}
	return out, f.Metadata, nil
}

func withHeader(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

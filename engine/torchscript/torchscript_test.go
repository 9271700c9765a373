package torchscript

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fomo-grid/grid/engine/safetensors"
)

// expectedTensors reads testdata/expected.json, which make_fixtures.py
// wrote from PyTorch's own view of each file.
func expectedTensors(t *testing.T, file string) map[string]safetensors.Tensor {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]map[string]struct {
		Shape []int
		Bits  []uint32
	}
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	out := map[string]safetensors.Tensor{}
	for name, e := range all[file] {
		data := make([]float32, len(e.Bits))
		for i, b := range e.Bits {
			data[i] = math.Float32frombits(b)
		}
		out[name] = safetensors.Tensor{Shape: e.Shape, Data: data}
	}
	if len(out) == 0 {
		t.Fatalf("expected.json has no tensors for %s", file)
	}
	return out
}

// sameTensors compares bit for bit (so -0 and +0 differ, and NaN equals
// itself), reporting each difference by name.
func sameTensors(t *testing.T, got, want map[string]safetensors.Tensor) {
	t.Helper()
	var gotNames, wantNames []string
	for n := range got {
		gotNames = append(gotNames, n)
	}
	for n := range want {
		wantNames = append(wantNames, n)
	}
	slices.Sort(gotNames)
	slices.Sort(wantNames)
	if !slices.Equal(gotNames, wantNames) {
		t.Fatalf("tensor names\n got %v\nwant %v", gotNames, wantNames)
	}
	for _, n := range wantNames {
		g, w := got[n], want[n]
		if !slices.Equal(g.Shape, w.Shape) || (g.Shape == nil) != (w.Shape == nil) {
			t.Errorf("%s: shape %#v, want %#v", n, g.Shape, w.Shape)
			continue
		}
		if len(g.Data) != len(w.Data) {
			t.Errorf("%s: %d values, want %d", n, len(g.Data), len(w.Data))
			continue
		}
		for i := range w.Data {
			if math.Float32bits(g.Data[i]) != math.Float32bits(w.Data[i]) {
				t.Errorf("%s[%d] = %v, want %v", n, i, g.Data[i], w.Data[i])
				break
			}
		}
	}
}

func TestReadStateDictViews(t *testing.T) {
	got, err := Read(filepath.Join("testdata", "views.pt"))
	if err != nil {
		t.Fatal(err)
	}
	want := expectedTensors(t, "views.pt")
	sameTensors(t, got, want)
	// Spot checks that do not depend on the fixture's own expectations.
	if h := got["half"].Data; h[0] != float32(0.333251953125) || h[2] != 65504 || !math.IsInf(float64(h[4]), 1) {
		t.Errorf("fp16 values %v: want 1/3 rounded to fp16, 65504, +Inf", h)
	}
	if tr := got["transposed"]; !slices.Equal(tr.Shape, []int{6, 4}) || tr.Data[1] != 6.0/8 {
		t.Errorf("transposed view %v %v: want shape [6 4] and element (0,1) = base(1,0) = 0.75", tr.Shape, tr.Data[:2])
	}
	if s := got["long"]; len(s.Shape) != 0 || s.Shape == nil || s.Data[0] != 224 {
		t.Errorf("int64 scalar: shape %#v data %v, want [] and 224", s.Shape, s.Data)
	}
}

func TestReadScriptedModule(t *testing.T) {
	got, err := Read(filepath.Join("testdata", "module.pt"))
	if err != nil {
		t.Fatal(err)
	}
	// The expected names are the module's state_dict keys, as PyTorch
	// lists them: parameters and buffers only, never the float or string
	// attributes, the training flags or the None bias.
	sameTensors(t, got, expectedTensors(t, "module.pt"))
}

// zipWith writes a zip archive of the given records to a temporary file.
func zipWith(t *testing.T, records map[string][]byte) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	names := make([]string, 0, len(records))
	for n := range records {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(records[n])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bad.pt")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// tensorPickle builds a protocol-2 pickle of {name: a view of storage "0"}
// the way torch.save spells it.
func tensorPickle(name, storageType string, numel byte, offset byte, size, stride []byte) []byte {
	var p []byte
	str := func(s string) {
		p = append(p, 'X', byte(len(s)), 0, 0, 0)
		p = append(p, s...)
	}
	ints := func(v []byte) {
		p = append(p, '(')
		for _, x := range v {
			p = append(p, 'K', x)
		}
		p = append(p, 't')
	}
	p = append(p, 0x80, 2, '}', '(')
	str(name)
	p = append(p, "ctorch._utils\n_rebuild_tensor_v2\n("...)
	p = append(p, '(')
	str("storage")
	p = append(p, "ctorch\n"+storageType+"\n"...)
	str("0")
	str("cpu")
	p = append(p, 'K', numel, 't', 'Q')
	p = append(p, 'K', offset)
	ints(size)
	ints(stride)
	p = append(p, 0x89)
	p = append(p, "ccollections\nOrderedDict\n)R"...)
	p = append(p, 't', 'R', 'u', '.')
	return p
}

func TestTensorPickleIsReadable(t *testing.T) {
	// The hand-built pickle of the error tests below is valid when its
	// storage is complete: otherwise those tests would prove nothing.
	path := zipWith(t, map[string][]byte{
		"a/data.pkl": tensorPickle("w", "FloatStorage", 6, 2, []byte{2, 2}, []byte{1, 2}),
		"a/data/0":   float32Bytes(0, 1, 2, 3, 4, 5),
	})
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]safetensors.Tensor{"w": {Shape: []int{2, 2}, Data: []float32{2, 4, 3, 5}}}
	sameTensors(t, got, want)
}

func float32Bytes(vs ...float32) []byte {
	var b []byte
	for _, v := range vs {
		u := math.Float32bits(v)
		b = append(b, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
	}
	return b
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	views, err := os.ReadFile(filepath.Join("testdata", "views.pt"))
	if err != nil {
		t.Fatal(err)
	}
	good := tensorPickle("w", "FloatStorage", 6, 0, []byte{2, 3}, []byte{3, 1})
	withOpcode := func(op ...byte) []byte { // insert op before the final STOP
		p := slices.Clone(good[:len(good)-1])
		return append(append(p, op...), '.')
	}
	cases := []struct {
		name string
		path string
		want []string // substrings of the error, besides the path
	}{
		{"truncated zip", write("truncated.pt", views[:len(views)/2]), []string{"not a readable zip archive"}},
		{"not a zip", write("text.pt", []byte("hello, world\n")), []string{"not a PyTorch zip archive"}},
		{"legacy pickle", write("legacy.pt", []byte{0x80, 2, 0x8a, 10}), []string{"legacy torch.save format"}},
		{"no data.pkl", zipWith(t, map[string][]byte{"a/version": []byte("3\n")}), []string{"no <name>/data.pkl"}},
		{"INST opcode", zipWith(t, map[string][]byte{"a/data.pkl": withOpcode('i'), "a/data/0": float32Bytes(0, 1, 2, 3, 4, 5)}),
			[]string{"a/data.pkl", "unsupported pickle opcode INST"}},
		{"unknown opcode", zipWith(t, map[string][]byte{"a/data.pkl": withOpcode(0xff), "a/data/0": float32Bytes(0, 1, 2, 3, 4, 5)}),
			[]string{"a/data.pkl", "unsupported pickle opcode", "at byte"}},
		{"pickle without STOP", zipWith(t, map[string][]byte{"a/data.pkl": good[:len(good)-1]}), []string{"without a STOP"}},
		{"missing storage", zipWith(t, map[string][]byte{"a/data.pkl": good}), []string{`tensor "w"`, "a/data/0 is missing"}},
		{"short storage", zipWith(t, map[string][]byte{"a/data.pkl": good, "a/data/0": float32Bytes(0, 1, 2, 3, 4)}),
			[]string{`tensor "w"`, "holds 5 elements"}},
		{"view past the end", zipWith(t, map[string][]byte{
			"a/data.pkl": tensorPickle("w", "FloatStorage", 6, 1, []byte{2, 3}, []byte{3, 1}),
			"a/data/0":   float32Bytes(0, 1, 2, 3, 4, 5)}), []string{`tensor "w"`, "reaches element 6"}},
		{"complex storage", zipWith(t, map[string][]byte{
			"a/data.pkl": tensorPickle("w", "ComplexFloatStorage", 6, 0, []byte{2, 3}, []byte{3, 1}),
			"a/data/0":   make([]byte, 48)}), []string{`tensor "w"`, "unsupported storage type ComplexFloatStorage"}},
		{"big-endian", zipWith(t, map[string][]byte{"a/data.pkl": good, "a/data/0": make([]byte, 24), "a/byteorder": []byte("big")}),
			[]string{"big", "little-endian"}},
		{"quantised tensor", zipWith(t, map[string][]byte{
			"a/data.pkl": bytes.Replace(good, []byte("_rebuild_tensor_v2"), []byte("_rebuild_qtensor"), 1),
			"a/data/0":   make([]byte, 24)}), []string{"unsupported tensor kind torch._utils._rebuild_qtensor"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Read(c.path)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, w := range append([]string{c.path}, c.want...) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
		})
	}
}

package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	tensors := map[string]Tensor{
		"b.weight":    {Shape: []int{2, 3}, Data: []float32{1, -2, 3.5, float32(math.Inf(1)), 0, -1e-30}},
		"a.bias":      {Shape: []int{3}, Data: []float32{7, 8, 9}},
		"logit_scale": {Shape: []int{}, Data: []float32{4.6052}},
		"empty":       {Shape: []int{0, 4}, Data: []float32{}},
	}
	meta := map[string]string{"format": "pt", "note": "round trip"}
	if err := Write(path, tensors, meta); err != nil {
		t.Fatal(err)
	}
	got, gotMeta, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotMeta, meta) {
		t.Fatalf("metadata %v, want %v", gotMeta, meta)
	}
	if len(got) != len(tensors) {
		t.Fatalf("read %d tensors, want %d", len(got), len(tensors))
	}
	for name, want := range tensors {
		g, ok := got[name]
		if !ok {
			t.Fatalf("tensor %q missing after round trip", name)
		}
		if !reflect.DeepEqual(g.Shape, want.Shape) || !reflect.DeepEqual(g.Data, want.Data) {
			t.Fatalf("tensor %q = %v %v, want %v %v", name, g.Shape, g.Data, want.Shape, want.Data)
		}
	}

	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if names := f.Names(); !reflect.DeepEqual(names, []string{"a.bias", "b.weight", "empty", "logit_scale"}) {
		t.Fatalf("Names() = %v", names)
	}
	if info, ok := f.Info("b.weight"); !ok || info.DType != "F32" || !reflect.DeepEqual(info.Shape, []int{2, 3}) {
		t.Fatalf("Info(b.weight) = %+v, %v", info, ok)
	}
	// The data section starts 8-byte aligned.
	if f.dataStart%8 != 0 {
		t.Fatalf("data starts at byte %d, not 8-byte aligned", f.dataStart)
	}
	// Nothing but the file itself is left in the directory.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries after Write, want 1", len(entries))
	}
}

func TestWriteReplacesAtomicallyAndKeepsOldFileOnError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.safetensors")
	if err := Write(path, map[string]Tensor{"x": {Shape: []int{1}, Data: []float32{1}}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, map[string]Tensor{"x": {Shape: []int{2}, Data: []float32{2, 3}}}, nil); err != nil {
		t.Fatal(err)
	}
	got, _, err := Read(path)
	if err != nil || !reflect.DeepEqual(got["x"].Data, []float32{2, 3}) {
		t.Fatalf("after overwrite: %v, %v", got, err)
	}
	// A checkpoint is shared like any result file, not private (0600).
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("checkpoint mode: %v %v, want 0644", st.Mode(), err)
	}
	err = Write(path, map[string]Tensor{"bad.weight": {Shape: []int{2, 2}, Data: []float32{1}}}, nil)
	if err == nil || !strings.Contains(err.Error(), "bad.weight") || !strings.Contains(err.Error(), path) {
		t.Fatalf("mismatched shape: error %v, want one naming the file and bad.weight", err)
	}
	got, _, err = Read(path)
	if err != nil || !reflect.DeepEqual(got["x"].Data, []float32{2, 3}) {
		t.Fatalf("old file damaged by a failed write: %v, %v", got, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("a failed write left %d entries in the directory", len(entries))
	}
}

// rawFile builds a safetensors file by hand so that dtypes this package never
// writes, and broken headers, can be tested.
func rawFile(t *testing.T, header map[string]any, data []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	buf := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	buf = append(append(buf, h...), data...)
	path := filepath.Join(t.TempDir(), "raw.safetensors")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func u16s(vals ...uint16) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint16(b, v)
	}
	return b
}

func TestHalfPrecisionDecode(t *testing.T) {
	f16 := []uint16{0x3C00, 0xC000, 0x7BFF, 0x0001, 0x0400, 0x03FF, 0x8000, 0x7C00, 0xFC00, 0x3555}
	f16Want := []float32{1, -2, 65504, 0x1p-24, 0x1p-14, 1023 * 0x1p-24, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), 0.33325195}
	bf16 := []uint16{0x3F80, 0xC040, 0x4049, 0x7F80, 0x0001}
	bf16Want := []float32{1, -3, 3.140625, float32(math.Inf(1)), math.Float32frombits(0x00010000)}
	data := append(u16s(f16...), u16s(bf16...)...)
	data = append(data, u16s(0x7E00, 0x7FC0)...) // F16 NaN, BF16 NaN
	path := rawFile(t, map[string]any{
		"half":    map[string]any{"dtype": "F16", "shape": []int{2, 5}, "data_offsets": []int{0, 20}},
		"brain":   map[string]any{"dtype": "BF16", "shape": []int{5}, "data_offsets": []int{20, 30}},
		"nanhalf": map[string]any{"dtype": "F16", "shape": []int{1}, "data_offsets": []int{30, 32}},
		"nanbf":   map[string]any{"dtype": "BF16", "shape": []int{1}, "data_offsets": []int{32, 34}},
	}, data)
	got, _, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range f16Want {
		if g := got["half"].Data[i]; math.Float32bits(g) != math.Float32bits(w) {
			t.Errorf("F16 %#04x → %g, want %g", f16[i], g, w)
		}
	}
	for i, w := range bf16Want {
		if g := got["brain"].Data[i]; math.Float32bits(g) != math.Float32bits(w) {
			t.Errorf("BF16 %#04x → %g, want %g", bf16[i], g, w)
		}
	}
	if !math.IsNaN(float64(got["nanhalf"].Data[0])) || !math.IsNaN(float64(got["nanbf"].Data[0])) {
		t.Errorf("NaN patterns decoded to %g and %g", got["nanhalf"].Data[0], got["nanbf"].Data[0])
	}
	// Every finite half value round-trips through float64 exactly: check the
	// whole table against the textbook formula.
	for bits := range 1 << 16 {
		exp, frac := bits>>10&0x1f, bits&0x3ff
		if exp == 0x1f {
			continue
		}
		var want float64
		if exp == 0 {
			want = float64(frac) * math.Pow(2, -24)
		} else {
			want = (1 + float64(frac)/1024) * math.Pow(2, float64(exp-15))
		}
		if bits&0x8000 != 0 {
			want = -want
		}
		if g := Float16ToFloat32(uint16(bits)); float64(g) != want {
			t.Fatalf("Float16ToFloat32(%#04x) = %g, want %g", bits, g, want)
		}
	}
}

func TestUnsupportedDTypeNamesTensor(t *testing.T) {
	path := rawFile(t, map[string]any{
		"position_ids": map[string]any{"dtype": "I64", "shape": []int{2}, "data_offsets": []int{0, 16}},
		"w":            map[string]any{"dtype": "F32", "shape": []int{1}, "data_offsets": []int{16, 20}},
	}, make([]byte, 20))
	// The file opens and its float tensor reads; only the integer one fails.
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Tensor("w"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Tensor("position_ids"); err == nil || !strings.Contains(err.Error(), "position_ids") || !strings.Contains(err.Error(), "I64") {
		t.Fatalf("reading an I64 tensor: %v", err)
	}
	if _, _, err := Read(path); err == nil || !strings.Contains(err.Error(), "position_ids") {
		t.Fatalf("Read of a file with an I64 tensor: %v", err)
	}
}

func TestBrokenFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	if err := Write(good, map[string]Tensor{
		"first.weight":  {Shape: []int{4}, Data: []float32{1, 2, 3, 4}},
		"second.weight": {Shape: []int{4}, Data: []float32{5, 6, 7, 8}},
	}, nil); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	huge := append(binary.LittleEndian.AppendUint64(nil, 1<<40), whole[8:]...)
	cases := []struct {
		name  string
		path  string
		wants []string
	}{
		{"too short for the length", write("short.safetensors", whole[:5]), []string{"too short"}},
		{"header cut off", write("cut-header.safetensors", whole[:20]), []string{"header length"}},
		{"absurd header length", write("huge.safetensors", huge), []string{"header length"}},
		{"data cut off", write("cut-data.safetensors", whole[:len(whole)-3]), []string{"second.weight", "outside"}},
		{"not JSON", write("garbage.safetensors", append(binary.LittleEndian.AppendUint64(nil, 4), "{x:1"...)), []string{"JSON"}},
		{"bad dtype", rawFile(t, map[string]any{"w": map[string]any{"dtype": "F17", "shape": []int{1}, "data_offsets": []int{0, 4}}}, make([]byte, 4)), []string{`"w"`, "F17"}},
		{"size mismatch", rawFile(t, map[string]any{"w": map[string]any{"dtype": "F32", "shape": []int{2}, "data_offsets": []int{0, 4}}}, make([]byte, 4)), []string{`"w"`, "needs 8"}},
		{"overlap", rawFile(t, map[string]any{
			"p": map[string]any{"dtype": "F32", "shape": []int{2}, "data_offsets": []int{0, 8}},
			"q": map[string]any{"dtype": "F32", "shape": []int{1}, "data_offsets": []int{4, 8}},
		}, make([]byte, 8)), []string{"overlap", `"p"`, `"q"`}},
		{"bad metadata", rawFile(t, map[string]any{"__metadata__": map[string]any{"n": 3}}, nil), []string{"__metadata__"}},
		{"missing file", filepath.Join(dir, "nope.safetensors"), []string{"nope.safetensors"}},
	}
	for _, c := range cases {
		_, _, err := Read(c.path)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range append(c.wants, filepath.Base(c.path)) {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, w)
			}
		}
	}
}

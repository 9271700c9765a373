package torchscript

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
)

// seedArchives are the committed PyTorch files: a TorchScript module and a
// state dict of views.
var seedArchives = []string{"testdata/module.pt", "testdata/views.pt", "../clip/testdata/tiny_openai.pt", "../clip/testdata/tiny_state_dict.pt"}

// FuzzUnpickle runs the pickle VM on arbitrary bytes: it must not panic,
// loop or grow without bound, whatever the opcodes say.
func FuzzUnpickle(f *testing.F) {
	for _, p := range seedArchives {
		for _, pkl := range dataPickles(f, p) {
			f.Add(pkl)
		}
	}
	f.Add([]byte("\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x01u."))
	f.Fuzz(func(t *testing.T, pkl []byte) {
		storages := map[string]*storage{}
		root, err := unpickle(pkl, func(pid any) (any, error) { return loadStorage(storages, pid) })
		if err != nil {
			return
		}
		collect(root) // naming the tensors of any value must not panic either
		describe(root)
	})
}

// FuzzArchive reads arbitrary zip archives as PyTorch checkpoints: no
// panic, and an accepted archive holds tensors whose shapes match their data.
func FuzzArchive(f *testing.F) {
	for _, p := range seedArchives {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		tensors, err := readArchive(zr)
		if err != nil {
			return
		}
		for name, x := range tensors {
			if x.Numel() != len(x.Data) {
				t.Fatalf("tensor %q: shape %v but %d values", name, x.Shape, len(x.Data))
			}
		}
	})
}

// dataPickles returns the data.pkl records of a committed archive.
func dataPickles(f *testing.F, path string) [][]byte {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil
	}
	defer zr.Close()
	var out [][]byte
	for _, zf := range zr.File {
		if !strings.HasSuffix(zf.Name, "data.pkl") {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			f.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

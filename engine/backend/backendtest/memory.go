package backendtest

import (
	"slices"

	"github.com/fomo-grid/grid/engine/backend"
)

// testMemory checks allocation, views, transfers, Zero and Copy.
func testMemory(s *suite) {
	t, b := s.t, s.b
	if b.Name() == "" || b.Device() == "" {
		t.Errorf("Name %q and Device %q must both be set", b.Name(), b.Device())
	}
	fresh := s.zeros(6)
	if got := s.get(fresh); !slices.Equal(got, make([]float32, 6)) {
		t.Errorf("a new buffer holds %v, want zeros", got)
	}
	if fresh.Len() != 6 || fresh.DType() != backend.Float32 {
		t.Errorf("Len %d DType %v, want 6 float32", fresh.Len(), fresh.DType())
	}
	empty := s.zeros(0)
	if empty.Len() != 0 {
		t.Errorf("an empty buffer has Len %d", empty.Len())
	}

	x := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	buf := s.buf(x)
	if got := s.get(buf); !slices.Equal(got, x) {
		t.Errorf("round trip gives %v, want %v", got, x)
	}
	head := make([]float32, 3)
	if err := b.Download(head, buf); err != nil || !slices.Equal(head, x[:3]) {
		t.Errorf("a short Download gives %v (%v), want %v", head, err, x[:3])
	}

	// Views share memory with their parent, and views of views compose.
	view := b.View(buf, 2, 5) // 3 4 5 6 7
	inner := b.View(view, 1, 3)
	if got := s.get(inner); !slices.Equal(got, []float32{4, 5, 6}) {
		t.Errorf("view of a view reads %v, want [4 5 6]", got)
	}
	b.Upload(inner, []float32{40, 50})
	b.Zero(b.View(buf, 7, 1))
	if got := s.get(buf); !slices.Equal(got, []float32{1, 2, 3, 40, 50, 6, 7, 0}) {
		t.Errorf("after writing through views the parent holds %v", got)
	}
	if got := s.get(view); !slices.Equal(got, []float32{3, 40, 50, 6, 7}) {
		t.Errorf("a view after writes through its parent reads %v", got)
	}

	dst := s.zeros(4)
	b.Copy(dst, b.View(buf, 4, 3))
	if got := s.get(dst); !slices.Equal(got, []float32{50, 6, 7, 0}) {
		t.Errorf("Copy of 3 elements into 4 gives %v, want [50 6 7 0]", got)
	}
	b.Zero(buf)
	if got := s.get(buf); !slices.Equal(got, make([]float32, 8)) {
		t.Errorf("Zero leaves %v", got)
	}

	ids := s.ints([]int{5, -3, 1 << 30})
	got := make([]int32, 3)
	if err := b.DownloadInt32(got, ids); err != nil || !slices.Equal(got, []int32{5, -3, 1 << 30}) {
		t.Errorf("int32 round trip gives %v (%v)", got, err)
	}
	if ids.DType() != backend.Int32 {
		t.Errorf("an int32 buffer has DType %v", ids.DType())
	}
	idsCopy := s.alloc(backend.Int32, 3)
	b.Copy(idsCopy, ids)
	b.Zero(b.View(ids, 0, 1))
	if err := b.DownloadInt32(got, idsCopy); err != nil || !slices.Equal(got, []int32{5, -3, 1 << 30}) {
		t.Errorf("a copied int32 buffer holds %v (%v)", got, err)
	}
	if err := b.DownloadInt32(got[:1], ids); err != nil || got[0] != 0 {
		t.Errorf("a zeroed int32 view reads %v (%v)", got[0], err)
	}

	own, err := b.Alloc(backend.Float32, 3)
	if err != nil {
		t.Fatal(err)
	}
	b.Free(own)
	b.Free(nil)
}

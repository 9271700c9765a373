package data

import (
	"bytes"
	"encoding/json"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// testImage is a deterministic w×h image with smooth gradients, a few
// blocks and some noise, so that resizing and the ops have real work to do.
func testImage(w, h int, seed uint64) *Image {
	rng := rand.New(rand.NewPCG(seed, 7))
	img := NewImage(w, h)
	bx, by := rng.IntN(w), rng.IntN(h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := (y*w + x) * 3
			r := 255 * x / max(w-1, 1)
			g := 255 * y / max(h-1, 1)
			b := (x*7 + y*3) % 256
			if x > bx && y > by {
				r, g = 255-r, 40
			}
			img.Pix[i] = uint8(min(max(r+rng.IntN(9)-4, 0), 255))
			img.Pix[i+1] = uint8(min(max(g+rng.IntN(9)-4, 0), 255))
			img.Pix[i+2] = uint8(b)
		}
	}
	return img
}

// writeJPEG encodes testImage(w, h, seed) to path (creating folders).
func writeJPEG(t testing.TB, path string, w, h int, seed uint64) {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, testImage(w, h, seed).ToImage(), &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, buf.Bytes())
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, b)
}

// makeItems builds perClass items for each of n classes, labelled in order.
func makeItems(n, perClass int) []Item {
	var items []Item
	for c := range n {
		for i := range perClass {
			items = append(items, Item{
				Path:      filepath.Join("/data", "cls", string(rune('a'+c%26)), string(rune('0'+i%10))+"_"+itoa(c)+"_"+itoa(i)+".jpg"),
				Label:     c,
				ClassName: "class_" + itoa(c),
			})
		}
	}
	return items
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func equalImages(a, b *Image) bool {
	return a.Width == b.Width && a.Height == b.Height && bytes.Equal(a.Pix, b.Pix)
}

func pixel(img *Image, x, y int) [3]uint8 {
	i := (y*img.Width + x) * 3
	return [3]uint8{img.Pix[i], img.Pix[i+1], img.Pix[i+2]}
}

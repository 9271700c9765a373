package data

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/draw"
)

func TestResizeBicubicHandComputed(t *testing.T) {
	// 4 -> 2 pixels: scale 2 stretches the kernel to support 4. For output 0
	// (centre 1.0) the taps at distances -0.25, 0.25, 0.75, 1.25 (in stretched
	// units) weigh 0.8671875, 0.8671875, 0.2265625, -0.0703125; normalised by
	// their sum 1.890625, [0 100 200 255] gives 60.35 -> 60. Output 1 mirrors
	// it: 417.2265625/1.890625 = 220.68 -> 221.
	src := NewImage(4, 1)
	for x, v := range []uint8{0, 100, 200, 255} {
		src.Pix[3*x], src.Pix[3*x+1], src.Pix[3*x+2] = v, v, v
	}
	got := ResizeBicubic(src, 2, 1)
	if p0, p1 := pixel(got, 0, 0), pixel(got, 1, 0); p0 != [3]uint8{60, 60, 60} || p1 != [3]uint8{221, 221, 221} {
		t.Errorf("got %v %v, want 60 and 221", p0, p1)
	}
	// Same along the other axis.
	col := &Image{Width: 1, Height: 4, Pix: src.Pix}
	if got := ResizeBicubic(col, 1, 2); pixel(got, 0, 0)[1] != 60 || pixel(got, 0, 1)[1] != 221 {
		t.Errorf("vertical: %v", got.Pix)
	}
}

func TestResizeBicubicKeepsFlatImages(t *testing.T) {
	for _, v := range []uint8{0, 1, 127, 254, 255} {
		src := NewImage(37, 23)
		for i := range src.Pix {
			src.Pix[i] = v
		}
		for _, sz := range [][2]int{{224, 224}, {5, 9}, {37, 50}, {100, 23}} {
			got := ResizeBicubic(src, sz[0], sz[1])
			if got.Width != sz[0] || got.Height != sz[1] {
				t.Fatalf("size %dx%d", got.Width, got.Height)
			}
			for i, p := range got.Pix {
				if p != v {
					t.Fatalf("flat %d resized to %v: byte %d = %d", v, sz, i, p)
				}
			}
		}
	}
}

// TestResizeBicubicAgreesWithXImageDraw checks the kernel against
// x/image/draw's CatmullRom (the same a=-0.5 cubic, also stretched when
// downscaling): on a smooth image the two differ only by rounding. (At hard
// edges they differ more, because PIL clips the first pass's overshoot to
// uint8 before the second pass.)
func TestResizeBicubicAgreesWithXImageDraw(t *testing.T) {
	src := NewImage(120, 90)
	for y := 0; y < 90; y++ {
		for x := 0; x < 120; x++ {
			i := (y*120 + x) * 3
			fx, fy := float64(x), float64(y)
			src.Pix[i] = uint8(128 + 100*math.Sin(fx/9)*math.Cos(fy/13))
			src.Pix[i+1] = uint8(20 + 2*fx)
			src.Pix[i+2] = uint8(128 + 120*math.Sin((fx+fy)/17))
		}
	}
	for _, sz := range [][2]int{{224, 224}, {32, 32}, {60, 45}, {149, 112}} {
		ours := ResizeBicubic(src, sz[0], sz[1])
		ref := image.NewRGBA(image.Rect(0, 0, sz[0], sz[1]))
		draw.CatmullRom.Scale(ref, ref.Bounds(), src.ToImage(), image.Rect(0, 0, src.Width, src.Height), draw.Src, nil)
		theirs := FromImage(ref)
		worst, sum := 0, 0
		for i := range ours.Pix {
			d := int(ours.Pix[i]) - int(theirs.Pix[i])
			if d < 0 {
				d = -d
			}
			worst = max(worst, d)
			sum += d
		}
		mean := float64(sum) / float64(len(ours.Pix))
		if worst > 2 || mean > 0.6 {
			t.Errorf("%v: max diff %d, mean %.3f against x/image/draw CatmullRom", sz, worst, mean)
		}
	}
}

func TestResizeShorterSideAndCenterCrop(t *testing.T) {
	cases := []struct{ w, h, size, wantW, wantH int }{
		{300, 200, 224, 336, 224},
		{200, 300, 224, 224, 336},
		{500, 333, 224, 336, 224}, // int(224*500/333) = int(336.33)
		{224, 224, 224, 224, 224},
		{48, 48, 32, 32, 32},
		{40, 64, 32, 32, 51}, // int(32*64/40) = 51
	}
	for _, c := range cases {
		got := ResizeShorterSide(testImage(c.w, c.h, 1), c.size)
		if got.Width != c.wantW || got.Height != c.wantH {
			t.Errorf("%dx%d -> %dx%d, want %dx%d", c.w, c.h, got.Width, got.Height, c.wantW, c.wantH)
		}
	}
	src := testImage(224, 224, 9)
	if !equalImages(ResizeShorterSide(src, 224), src) {
		t.Error("an image already at size must come back unchanged")
	}

	// Crop offsets round half to even: surplus 1 -> 0, 3 -> 2 (round(1.5)), 5 -> 2 (round(2.5)).
	for _, c := range []struct{ surplus, left int }{{0, 0}, {1, 0}, {2, 1}, {3, 2}, {5, 2}, {7, 4}} {
		img := NewImage(10+c.surplus, 10)
		for x := 0; x < img.Width; x++ {
			for y := 0; y < 10; y++ {
				img.Pix[(y*img.Width+x)*3] = uint8(x)
			}
		}
		got := CenterCrop(img, 10, 10)
		if int(got.Pix[0]) != c.left {
			t.Errorf("surplus %d: left offset %d, want %d", c.surplus, got.Pix[0], c.left)
		}
	}
	crop := Prepare(testImage(300, 200, 4), ShorterSideCrop, 224)
	if crop.Width != 224 || crop.Height != 224 {
		t.Errorf("ShorterSideCrop gave %dx%d", crop.Width, crop.Height)
	}
	want := CenterCrop(ResizeBicubic(testImage(300, 200, 4), 336, 224), 224, 224)
	if !equalImages(crop, want) {
		t.Error("ShorterSideCrop is not resize-then-crop")
	}
	sq := Prepare(testImage(300, 200, 4), Squash, 32)
	if !equalImages(sq, ResizeBicubic(testImage(300, 200, 4), 32, 32)) {
		t.Error("Squash is not a plain resize to size×size")
	}
}

func TestToCHW(t *testing.T) {
	img := NewImage(2, 1)
	copy(img.Pix, []uint8{0, 128, 255, 255, 0, 10})
	dst := make([]float32, 6)
	ToCHW(img, dst)
	norm := func(v float32, c int) float32 { return (v/255 - CLIPMean[c]) / CLIPStd[c] }
	want := []float32{norm(0, 0), norm(255, 0), norm(128, 1), norm(0, 1), norm(255, 2), norm(10, 2)}
	for i := range want {
		if dst[i] != want[i] {
			t.Errorf("dst[%d] = %v, want %v (channel-major layout)", i, dst[i], want[i])
		}
	}
	// Range: every value lies in [(0-mean)/std, (1-mean)/std] of its channel.
	big := testImage(64, 48, 2)
	out := make([]float32, 3*64*48)
	ToCHW(big, out)
	for c := range 3 {
		lo, hi := -CLIPMean[c]/CLIPStd[c], (1-CLIPMean[c])/CLIPStd[c]
		for _, v := range out[c*64*48 : (c+1)*64*48] {
			if v < lo || v > hi || math.IsNaN(float64(v)) {
				t.Fatalf("channel %d value %v outside [%v, %v]", c, v, lo, hi)
			}
		}
	}
	if math.Abs(float64(norm(255, 0))-(1-0.48145466)/0.26862954) > 1e-6 {
		t.Error("normalisation constants")
	}
}

func TestDecodeFile(t *testing.T) {
	dir := t.TempDir()
	// PNG decodes exactly, gray and alpha included.
	gray := image.NewGray(image.Rect(0, 0, 3, 2))
	gray.Pix = []uint8{0, 50, 100, 150, 200, 250}
	var buf bytes.Buffer
	if err := png.Encode(&buf, gray); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "g.png")
	writeFile(t, p, buf.Bytes())
	img, err := DecodeFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if img.Width != 3 || img.Height != 2 || pixel(img, 2, 1) != [3]uint8{250, 250, 250} {
		t.Errorf("gray PNG: %dx%d %v", img.Width, img.Height, img.Pix)
	}
	nrgba := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	nrgba.Set(0, 0, color.NRGBA{200, 100, 50, 10})
	buf.Reset()
	if err := png.Encode(&buf, nrgba); err != nil {
		t.Fatal(err)
	}
	writeFile(t, p, buf.Bytes())
	if img, err = DecodeFile(p); err != nil || pixel(img, 0, 0) != [3]uint8{200, 100, 50} {
		t.Errorf("RGBA PNG: alpha should be dropped, got %v (%v)", img.Pix, err)
	}

	// JPEG: close to the encoded pixels.
	jp := filepath.Join(dir, "a.jpg")
	writeJPEG(t, jp, 40, 30, 5)
	img, err = DecodeFile(jp)
	if err != nil {
		t.Fatal(err)
	}
	ref := testImage(40, 30, 5)
	sum := 0
	for i := range img.Pix {
		d := int(img.Pix[i]) - int(ref.Pix[i])
		sum += d * d
	}
	if rms := math.Sqrt(float64(sum) / float64(len(img.Pix))); rms > 20 {
		t.Errorf("JPEG round trip RMS error %.1f", rms)
	}

	// Corrupt and missing files are errors naming the path.
	b, _ := os.ReadFile(jp)
	bad := filepath.Join(dir, "truncated.jpg")
	writeFile(t, bad, b[:len(b)/2])
	if _, err := DecodeFile(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("truncated JPEG: %v", err)
	}
	garbage := filepath.Join(dir, "garbage.jpg")
	writeFile(t, garbage, []byte("\xff\xd8\xff\xe0 this is not a jpeg"))
	if _, err := DecodeFile(garbage); err == nil || !strings.Contains(err.Error(), garbage) {
		t.Errorf("garbage JPEG: %v", err)
	}
	missing := filepath.Join(dir, "missing.jpg")
	if _, err := DecodeFile(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing image: %v", err)
	}
}

func TestLibjpegChromaUpsamplingAndColour(t *testing.T) {
	// 2×2 chroma -> 4×4 by h2v2 fancy upsampling, worked by hand from
	// libjpeg's formula: column sums 3·near + far, then (3·this + neighbour
	// + 8 or 7) >> 4, with the edges replicated.
	src := []uint8{0, 160, 80, 240}
	dst := make([]uint8, 16)
	upsampleH2V2(dst, src, 2, 4, 4, 2, 2)
	want := []uint8{
		0, 40, 120, 160, // row 0 leans on itself (replicated row above)
		20, 60, 140, 180, // row 1: sums 80 and 720
		60, 100, 180, 220, // row 2: near row 1, far row 0: sums 240 and 880
		80, 120, 200, 240, // row 3 leans on itself (replicated row below)
	}
	if string(dst) != string(want) {
		t.Errorf("h2v2 upsampling:\n got %v\nwant %v", dst, want)
	}
	h := make([]uint8, 4)
	upsampleH2V1(h, []uint8{0, 200}, 2, 4, 1, 2)
	if string(h) != string([]uint8{0, 50, 150, 200}) {
		t.Errorf("h2v1 upsampling: %v, want [0 50 150 200]", h)
	}
	// jdcolor.c: grey stays grey; Y=76 Cb=85 Cr=255 is (254, 0, 0).
	if r, g, b := libjpegYCCToRGB(128, 128, 128); r != 128 || g != 128 || b != 128 {
		t.Errorf("grey -> %d %d %d", r, g, b)
	}
	if r, g, b := libjpegYCCToRGB(76, 85, 255); r != 254 || g != 0 || b != 0 {
		t.Errorf("red -> %d %d %d, want 254 0 0", r, g, b)
	}
}

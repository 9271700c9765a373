package data

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// allValues is a 16×16 image whose pixels take every value 0..255 in every
// channel (in different places).
func allValues() *Image {
	img := NewImage(16, 16)
	for i := range 256 {
		img.Pix[3*i] = uint8(i)
		img.Pix[3*i+1] = uint8(255 - i)
		img.Pix[3*i+2] = uint8((i * 7) % 256)
	}
	return img
}

func flat(w, h int, rgb [3]uint8) *Image {
	img := NewImage(w, h)
	for i := 0; i < len(img.Pix); i += 3 {
		copy(img.Pix[i:], rgb[:])
	}
	return img
}

func TestRandAugmentMagnitudesAtM10(t *testing.T) {
	ra := DefaultRandAugment()
	want := map[string]float64{
		"Rotate": 10, "Posterize": 5.333333, "Solarize": 85.333333, "SolarizeAdd": 36.666667,
		"Color": 0.7, "Contrast": 0.7, "Brightness": 0.7, "Sharpness": 0.7,
		"ShearX": 0.1, "ShearY": 0.1, "CutoutAbs": 13.333333, "TranslateXabs": 33.333333, "TranslateYabs": 33.333333,
	}
	for _, op := range augOps {
		w, ok := want[op.name]
		if !ok {
			continue
		}
		if got := ra.magnitude(op); math.Abs(got-w) > 1e-6 {
			t.Errorf("%s at m=10: %v, want %v", op.name, got, w)
		}
	}
	if !slices.Equal(RandAugmentOps(), []string{"AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize",
		"SolarizeAdd", "Color", "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "CutoutAbs",
		"TranslateXabs", "TranslateYabs"}) {
		t.Errorf("op list %v", RandAugmentOps())
	}
	scaled := RandAugment{N: 2, M: 10, PixelScale: 32.0 / 224}
	for _, op := range augOps {
		got, base := scaled.magnitude(op), ra.magnitude(op)
		if op.pixels && math.Abs(got-base*32/224) > 1e-9 || !op.pixels && got != base {
			t.Errorf("%s with PixelScale: %v (unscaled %v)", op.name, got, base)
		}
	}
}

func TestInvertTwiceIsIdentity(t *testing.T) {
	img := testImage(23, 17, 1)
	once := Invert(img)
	if pixel(once, 3, 4) != [3]uint8{255 - pixel(img, 3, 4)[0], 255 - pixel(img, 3, 4)[1], 255 - pixel(img, 3, 4)[2]} {
		t.Error("Invert is not 255-v")
	}
	if !equalImages(Invert(once), img) {
		t.Error("Invert twice changed the image")
	}
}

func TestPosterizeKeepsTopBits(t *testing.T) {
	img := allValues()
	got := Posterize(img, int(DefaultRandAugment().magnitude(augOps[4])))
	for i, v := range got.Pix {
		if v != img.Pix[i]&0xF8 {
			t.Fatalf("byte %d: %d -> %d, want %d", i, img.Pix[i], v, img.Pix[i]&0xF8)
		}
	}
}

func TestSolarizeThreshold(t *testing.T) {
	img := allValues()
	got := Solarize(img, 256.0/3)
	for i, v := range got.Pix {
		in := img.Pix[i]
		want := in
		if in >= 86 { // 85.33: 85 stays, 86 flips
			want = 255 - in
		}
		if v != want {
			t.Fatalf("%d -> %d, want %d", in, v, want)
		}
	}
	add := SolarizeAdd(img, 110.0/3, 128)
	for _, c := range []struct{ in, want uint8 }{{0, 36}, {91, 127}, {92, 255 - 128}, {100, 255 - 136}, {219, 0}, {250, 0}} {
		if got := add.Pix[3*int(c.in)]; got != c.want {
			t.Errorf("SolarizeAdd(36.67) of %d = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestAutoContrast(t *testing.T) {
	img := NewImage(4, 1)
	copy(img.Pix, []uint8{50, 7, 9, 100, 7, 9, 150, 7, 200, 75, 7, 9})
	got := AutoContrast(img)
	// Red 50..150 stretches to 0..255 with int(v*2.55 - 127.5); green has one
	// value and stays; blue 9..200.
	wantR := []uint8{0, 127, 255, 63}
	for x, w := range wantR {
		if got.Pix[3*x] != w || got.Pix[3*x+1] != 7 {
			t.Errorf("pixel %d: %v, want red %d green 7", x, pixel(got, x, 0), w)
		}
	}
	if got.Pix[2] != 0 || got.Pix[8] != 255 {
		t.Errorf("blue not stretched: %v", got.Pix)
	}
	f := flat(5, 5, [3]uint8{10, 20, 30})
	if !equalImages(AutoContrast(f), f) {
		t.Error("flat image changed")
	}
}

func TestEqualize(t *testing.T) {
	// Half the pixels 10, half 200 (512 pixels): step = 256//255 = 1, so 10
	// maps to 0 and 200 to min(256, 255).
	img := NewImage(32, 16)
	for i := 0; i < len(img.Pix); i += 3 {
		v := uint8(10)
		if i >= len(img.Pix)/2 {
			v = 200
		}
		img.Pix[i], img.Pix[i+1], img.Pix[i+2] = v, v, 77
	}
	got := Equalize(img)
	if pixel(got, 0, 0) != [3]uint8{0, 0, 77} || pixel(got, 31, 15) != [3]uint8{255, 255, 77} {
		t.Errorf("equalize: %v %v", pixel(got, 0, 0), pixel(got, 31, 15))
	}
	// 255 pixels at 0, 255 at 100, 2 at 200: step = 510//255 = 2 (Pillow
	// divides by 255, not 256), so 100 maps to (1+255)//2 = 128.
	three := NewImage(32, 16)
	for i := 255; i < 512; i++ {
		v := uint8(100)
		if i >= 510 {
			v = 200
		}
		three.Pix[3*i], three.Pix[3*i+1], three.Pix[3*i+2] = v, v, v
	}
	eq3 := Equalize(three)
	if eq3.Pix[0] != 0 || eq3.Pix[3*300] != 128 || eq3.Pix[3*511] != 255 {
		t.Errorf("equalize 0/100/200 -> %d/%d/%d, want 0/128/255", eq3.Pix[0], eq3.Pix[3*300], eq3.Pix[3*511])
	}
	// On a spread image the map is monotone and uses the full range.
	eq := Equalize(testImage(40, 40, 3))
	src := testImage(40, 40, 3)
	lut := map[uint8]uint8{}
	for i := 0; i < len(src.Pix); i += 3 {
		lut[src.Pix[i]] = eq.Pix[i]
	}
	last := -1
	for v := range 256 {
		if o, ok := lut[uint8(v)]; ok {
			if int(o) < last {
				t.Fatalf("equalize not monotone at %d", v)
			}
			last = int(o)
		}
	}
}

func TestEnhanceOps(t *testing.T) {
	grey := flat(6, 6, [3]uint8{90, 90, 90})
	if !equalImages(Color(grey, 0.7), grey) {
		t.Error("Color changed a grey image")
	}
	red := flat(6, 6, [3]uint8{200, 0, 0})
	c := Color(red, 0.7)
	// luma(200,0,0) = (200*19595 + 32768) >> 16 = 60; 60 + 0.7*(200-60) = 158,
	// 60 + 0.7*(0-60) = 18.
	if pixel(c, 2, 2) != [3]uint8{158, 18, 18} {
		t.Errorf("Color(0.7) of red = %v, want [158 18 18]", pixel(c, 2, 2))
	}
	if !equalImages(Contrast(grey, 0.3), grey) || !equalImages(Sharpness(grey, 0.7), grey) {
		t.Error("Contrast or Sharpness changed a flat image")
	}
	two := NewImage(2, 1)
	copy(two.Pix, []uint8{100, 100, 100, 200, 200, 200})
	ct := Contrast(two, 0.7) // mean 150: 150 + 0.7*(100-150) = 115, 150 + 35 = 185
	if ct.Pix[0] != 115 || ct.Pix[3] != 185 {
		t.Errorf("Contrast(0.7): %v, want 115 and 185", ct.Pix)
	}
	br := Brightness(two, 0.7)
	if br.Pix[0] != 70 || br.Pix[3] != 140 {
		t.Errorf("Brightness(0.7): %v, want 70 and 140", br.Pix)
	}
	if up := Brightness(two, 1.9); up.Pix[0] != 190 || up.Pix[3] != 255 {
		t.Errorf("Brightness(1.9) must clip: %v", up.Pix)
	}
	// Sharpness(0.7) of a lone bright pixel: SMOOTH gives 255*5/13 -> 98 at
	// the centre and 255/13 -> 20 around it; blending 0.7 of the original back
	// gives 98 + 0.7*157 = 207 and 20 - 0.7*20 = 6. The border is untouched.
	dot := NewImage(5, 5)
	copy(dot.Pix[(2*5+2)*3:], []uint8{255, 255, 255})
	dot.Pix[0] = 33
	sh := Sharpness(dot, 0.7)
	if pixel(sh, 2, 2)[0] != 207 || pixel(sh, 1, 2)[0] != 6 || pixel(sh, 1, 1)[0] != 6 || sh.Pix[0] != 33 {
		t.Errorf("Sharpness(0.7): centre %d neighbours %d %d corner %d, want 207 6 6 33",
			pixel(sh, 2, 2)[0], pixel(sh, 1, 2)[0], pixel(sh, 1, 1)[0], sh.Pix[0])
	}
}

func TestTranslateShiftsPixels(t *testing.T) {
	img := testImage(64, 40, 5)
	left := TranslateX(img, 100.0/3) // output x reads input x+33
	for y := range 40 {
		for x := range 64 {
			want := [3]uint8{}
			if x+33 < 64 {
				want = pixel(img, x+33, y)
			}
			if pixel(left, x, y) != want {
				t.Fatalf("TranslateX(+33.3) at (%d,%d): %v, want %v", x, y, pixel(left, x, y), want)
			}
		}
	}
	right := TranslateX(img, -100.0/3) // output x reads input x-33
	if pixel(right, 32, 7) != [3]uint8{} || pixel(right, 33, 7) != pixel(img, 0, 7) || pixel(right, 63, 7) != pixel(img, 30, 7) {
		t.Error("TranslateX(-33.3) does not move the content right by 33")
	}
	down := TranslateY(img, -10)
	if pixel(down, 5, 9) != [3]uint8{} || pixel(down, 5, 10) != pixel(img, 5, 0) {
		t.Error("TranslateY(-10) does not move the content down by 10")
	}
}

func TestShearAndRotate(t *testing.T) {
	img := testImage(40, 40, 6)
	sh := ShearX(img, 0.1) // row y reads x + 0.1*y (at pixel centres)
	for _, y := range []int{0, 20, 35} {
		off := int(0.5 + 0.1*(float64(y)+0.5)) // floor of the fractional part added to x
		if pixel(sh, 3, y) != pixel(img, 3+off, y) {
			t.Errorf("ShearX row %d: not shifted by %d", y, off)
		}
	}
	if pixel(sh, 39, 39) != [3]uint8{} {
		t.Error("ShearX should bring in black at the right of the bottom rows")
	}
	shy := ShearY(img, -0.1)
	if pixel(shy, 39, 0) != [3]uint8{} || pixel(shy, 0, 0) != pixel(img, 0, 0) {
		t.Error("ShearY(-0.1) should shift the right columns down")
	}

	// A bright dot 12 px right of the centre moves counter-clockwise by 10
	// degrees: up by 12 sin 10 = 2.1 px.
	dot := NewImage(33, 33)
	copy(dot.Pix[(16*33+28)*3:], []uint8{255, 255, 255})
	rot := Rotate(dot, 10)
	bx, by := -1, -1
	for y := range 33 {
		for x := range 33 {
			if pixel(rot, x, y)[0] == 255 {
				bx, by = x, y
			}
		}
	}
	if bx < 27 || bx > 29 || by < 13 || by > 15 {
		t.Errorf("rotated dot at (%d,%d), want near (28, 14)", bx, by)
	}
	r := Rotate(img, -10)
	if pixel(r, 0, 0) != [3]uint8{} || pixel(r, 39, 39) != [3]uint8{} || pixel(r, 20, 20) != pixel(img, 20, 20) {
		t.Error("Rotate(-10): corners should be black and the centre fixed")
	}
	if !equalImages(Rotate(img, 360), img) || !equalImages(Rotate(Rotate(img, 90), 270), img) {
		t.Error("Rotate by multiples of 90 should be exact")
	}
	if !equalImages(Rotate(img, 180), Rotate(Rotate(img, 90), 90)) {
		t.Error("Rotate 180 != two 90s")
	}
}

func TestCutoutFill(t *testing.T) {
	img := flat(50, 40, [3]uint8{1, 2, 3})
	got := CutoutAbs(img, 20, 15, 40.0/3)
	count := 0
	for y := range 40 {
		for x := range 50 {
			if pixel(got, x, y) == CutoutFill {
				count++
				// x0 = int(20 - 6.67) = 13, x1 = int(13 + 13.33) = 26 inclusive.
				if x < 13 || x > 26 || y < 8 || y > 21 {
					t.Fatalf("fill at (%d,%d) outside the square", x, y)
				}
			}
		}
	}
	if count != 14*14 {
		t.Errorf("%d filled pixels, want 14×14", count)
	}
	// At the corner: x0 = int(49.9-6.67) = 43, x1 = min(50, 56.3) clipped to 49.
	edge := CutoutAbs(img, 49.9, 39.9, 40.0/3)
	if pixel(edge, 49, 39) != CutoutFill || pixel(edge, 43, 33) != CutoutFill ||
		pixel(edge, 42, 33) == CutoutFill || pixel(edge, 43, 32) == CutoutFill {
		t.Error("cutout at the corner not clipped as expected")
	}
	if !equalImages(img, flat(50, 40, [3]uint8{1, 2, 3})) {
		t.Error("CutoutAbs modified its input")
	}
}

func TestRandAugmentApply(t *testing.T) {
	img := testImage(48, 48, 8)
	ra := DefaultRandAugment()
	a := ra.Apply(img, rand.New(rand.NewPCG(5, 6)))
	b := ra.Apply(img, rand.New(rand.NewPCG(5, 6)))
	if !equalImages(a, b) {
		t.Fatal("same seed, different augmentation")
	}
	if !equalImages(img, testImage(48, 48, 8)) {
		t.Fatal("Apply modified its input")
	}
	// Over many seeds every op is drawn and most results differ from the
	// input; the draw is two ops with replacement.
	differ := 0
	seen := map[int]bool{}
	for s := range uint64(200) {
		rng := rand.New(rand.NewPCG(s, 1))
		probe := rand.New(rand.NewPCG(s, 1))
		seen[probe.IntN(16)], seen[probe.IntN(16)] = true, true
		if !equalImages(ra.Apply(img, rng), img) {
			differ++
		}
	}
	if len(seen) != 16 || differ < 180 {
		t.Errorf("%d ops seen, %d/200 images changed", len(seen), differ)
	}
	// Apply is exactly: draw N ops, then apply each with its magnitude.
	rng := rand.New(rand.NewPCG(42, 1))
	got := ra.Apply(img, rng)
	ref := rand.New(rand.NewPCG(42, 1))
	i, j := ref.IntN(16), ref.IntN(16)
	want := augOps[j].apply(augOps[i].apply(img, ra.magnitude(augOps[i]), ref), ra.magnitude(augOps[j]), ref)
	if !equalImages(got, want) {
		t.Errorf("Apply is not ops %s then %s", augOps[i].name, augOps[j].name)
	}
	if none := (RandAugment{}).Apply(img, rng); !equalImages(none, img) || &none.Pix[0] == &img.Pix[0] {
		t.Error("N=0 should return a copy of the image")
	}
}

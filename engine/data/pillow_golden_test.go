package data

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// goldenInput is a 61×47 test card made by arithmetic alone (no random
// generator whose sequence could change): smooth ramps, a hard-edged block
// and a high-frequency pattern, so that every op and both resizes matter.
func goldenInput(w, h int) *Image {
	img := NewImage(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := (y*w + x) * 3
			img.Pix[i] = uint8(30 + 3*x)
			img.Pix[i+1] = uint8(20 + 4*y)
			img.Pix[i+2] = uint8((x*x*7 + y*13 + x*y) % 256)
			if x >= 20 && x < 35 && y >= 10 && y < 30 {
				img.Pix[i], img.Pix[i+1] = 240, 15
			}
		}
	}
	return img
}

// goldenCases are the pipeline pieces checked against Pillow, with the
// magnitudes RandAugment(2, 10) uses (both signs where Dassl flips them).
func goldenCases() map[string]func(*Image) *Image {
	m := 10.0 / 30
	return map[string]func(*Image) *Image{
		"resize_224":   func(s *Image) *Image { return ResizeBicubic(s, 224, 224) },
		"resize_32":    func(s *Image) *Image { return ResizeBicubic(s, 32, 32) },
		"resize_40x90": func(s *Image) *Image { return ResizeBicubic(s, 40, 90) },
		"test_224":     func(s *Image) *Image { return Prepare(s, ShorterSideCrop, 224) },
		"test_32":      func(s *Image) *Image { return Prepare(s, ShorterSideCrop, 32) },
		"autocontrast": AutoContrast,
		"equalize":     Equalize,
		"invert":       Invert,
		"posterize":    func(s *Image) *Image { return Posterize(s, int(m*4+4)) },
		"solarize":     func(s *Image) *Image { return Solarize(s, m*256) },
		"solarizeadd":  func(s *Image) *Image { return SolarizeAdd(s, m*110, 128) },
		"color":        func(s *Image) *Image { return Color(s, m*1.8+0.1) },
		"contrast":     func(s *Image) *Image { return Contrast(s, m*1.8+0.1) },
		"brightness":   func(s *Image) *Image { return Brightness(s, m*1.8+0.1) },
		"sharpness":    func(s *Image) *Image { return Sharpness(s, m*1.8+0.1) },
		"contrast_1.9": func(s *Image) *Image { return Contrast(s, 1.9) },
		"rotate_+":     func(s *Image) *Image { return Rotate(s, m*30) },
		"rotate_-":     func(s *Image) *Image { return Rotate(s, -m*30) },
		"shearx_+":     func(s *Image) *Image { return ShearX(s, m*0.3) },
		"shearx_-":     func(s *Image) *Image { return ShearX(s, -m*0.3) },
		"sheary_+":     func(s *Image) *Image { return ShearY(s, m*0.3) },
		"sheary_-":     func(s *Image) *Image { return ShearY(s, -m*0.3) },
		"translatex_+": func(s *Image) *Image { return TranslateX(s, m*100) },
		"translatex_-": func(s *Image) *Image { return TranslateX(s, -m*100) },
		"translatey_+": func(s *Image) *Image { return TranslateY(s, m*100) },
		"translatey_-": func(s *Image) *Image { return TranslateY(s, -m*100) },
		"cutout":       func(s *Image) *Image { return CutoutAbs(s, 20.7, 11.2, m*40) },
		"cutout_edge":  func(s *Image) *Image { return CutoutAbs(s, 61, 47, m*40) },
	}
}

// pillowGolden: the first 16 hex digits of the SHA-256 of the RGB bytes that
// Pillow 9.4 (Debian 12's python3-pil) returns for each case on goldenInput
// (resize with Image.BICUBIC; the test pipeline as torchvision's Resize(size)
// + CenterCrop(size); the ops as Dassl's randaugment.py calls them).
var pillowGolden = map[string]string{
	"autocontrast": "d43c63c1c26cab93",
	"brightness":   "028731e2209b5848",
	"color":        "cccffce95e6a3302",
	"contrast":     "577a9f7221fc5923",
	"contrast_1.9": "2c843005378255d7",
	"cutout":       "5985c857cca10e01",
	"cutout_edge":  "8d5dd06c7f62760a",
	"equalize":     "0f235168e4c9268d",
	"invert":       "e7b66c67f09cc14e",
	"posterize":    "113813e60a8b4032",
	"resize_224":   "327bda08ac86eb33",
	"resize_32":    "4ebb231fe4d4cbef",
	"resize_40x90": "541cea22723c0388",
	"rotate_+":     "865eecb4b50e89bf",
	"rotate_-":     "d4ade6b1b09f607f",
	"sharpness":    "783f675c6f8a3b11",
	"shearx_+":     "eed51ef23eb7ebe5",
	"shearx_-":     "3773d272a437df61",
	"sheary_+":     "afbd5f8593dfa1e2",
	"sheary_-":     "802c22b2493abfbe",
	"solarize":     "fba2a8c5aecf6362",
	"solarizeadd":  "e99032d1641747f8",
	"test_224":     "e42ffdcfce1ad401",
	"test_32":      "a98527d1fb26827b",
	"translatex_+": "a0d39a0b51fb1005",
	"translatex_-": "62cc1f7449b3cd93",
	"translatey_+": "21976db917727d49",
	"translatey_-": "8417ef2b13ea4e1c",
}

func TestPipelineMatchesPillowBytes(t *testing.T) {
	src := goldenInput(61, 47)
	cases := goldenCases()
	if len(pillowGolden) != len(cases) {
		t.Fatalf("%d golden hashes for %d cases", len(pillowGolden), len(cases))
	}
	for name, f := range cases {
		sum := sha256.Sum256(f(src).Pix)
		if got := hex.EncodeToString(sum[:8]); got != pillowGolden[name] {
			t.Errorf("%s: hash %s, Pillow's is %s", name, got, pillowGolden[name])
		}
	}
}

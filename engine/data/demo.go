package data

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
)

// DemoName is the grid name of the synthetic demo dataset: sketches, the
// shapes drawn as outlines, on light backgrounds. The demo model was
// pre-trained on filled shapes and sketches alike (DemoPairs), with captions
// that say "a sketch of" only for sketches, so the hand-written "a photo of
// a {}." prompt describes these pictures wrongly, and a learned one can say
// better.
const DemoName = "demo"

// DemoShiftedName is the demo's transfer target: the same eight classes
// filled, on dark backgrounds and larger, a domain shift in the way
// ImageNet-Sketch shifts ImageNet (the other way round).
const DemoShiftedName = "demo_b"

// demoStyle is what tells the two demo datasets apart.
type demoStyle struct {
	name      string // grid name, also the folder under the root
	splitFile string
	seed      uint64
	bgLow     int     // background channel values are bgLow + [0, 50)
	scaleLow  float64 // shape scale is scaleLow + [0, 6)
	outline   float64 // line width of outlined shapes; 0: filled
}

var demoStyles = map[string]demoStyle{
	DemoName:        {name: DemoName, splitFile: demoSplitFile, seed: 0xde40, bgLow: 195, scaleLow: 10, outline: demoOutline},
	DemoShiftedName: {name: DemoShiftedName, splitFile: "split_zhou_DemoB.json", seed: 0xde4b, bgLow: 20, scaleLow: 13},
}

// The demo set: 8 classes of one coloured shape or texture each on a plain,
// noisy background, 48×48 JPEGs, 20 train / 4 val / 50 test per class (the
// test split is large so that a few images do not swing an accuracy).
const (
	demoSide                         = 48
	demoTrain, demoVal, demoTest     = 20, 4, 50
	demoPerClass                     = demoTrain + demoVal + demoTest
	demoJPEGQuality                  = 90
	demoSplitFile                    = "split_zhou_Demo.json"
	demoImageDir                     = "images"
	demoColourJitter, demoNoiseLevel = 24, 6
)

type demoClass struct {
	name   string
	colour [3]int
	// inside reports whether the pixel at offset (dx, dy) from the shape's
	// centre belongs to a shape of scale s; phase shifts textures.
	inside func(dx, dy, s, phase float64) bool
	// texture is set for the classes that fill the whole picture; their
	// names are plurals ("stripes").
	texture bool
}

// demoClasses in label order: the first half are the base classes, the
// second the new ones, each a texture and three shapes.
var demoClasses = []demoClass{
	{"square", [3]int{40, 70, 200}, func(dx, dy, s, _ float64) bool { return math.Abs(dx) <= 0.85*s && math.Abs(dy) <= 0.85*s }, false},
	{"dots", [3]int{50, 40, 30}, func(dx, dy, s, phase float64) bool {
		spacing := 8 + s/4
		fx := math.Mod(dx+phase+100*spacing, spacing) - spacing/2
		fy := math.Mod(dy+phase+100*spacing, spacing) - spacing/2
		return math.Hypot(fx, fy) <= 2.6
	}, true},
	{"cross", [3]int{240, 150, 20}, func(dx, dy, s, _ float64) bool {
		t := s / 3
		return (math.Abs(dx) <= t && math.Abs(dy) <= s) || (math.Abs(dy) <= t && math.Abs(dx) <= s)
	}, false},
	{"diamond", [3]int{230, 100, 170}, func(dx, dy, s, _ float64) bool { return math.Abs(dx)+math.Abs(dy) <= 1.2*s }, false},
	{"circle", [3]int{210, 40, 40}, func(dx, dy, s, _ float64) bool { return math.Hypot(dx, dy) <= s }, false},
	{"stripes", [3]int{20, 150, 150}, func(_, dy, s, phase float64) bool {
		period := 4 + s/4
		return math.Mod(dy+phase+100*period, period) < period/2
	}, true},
	{"triangle", [3]int{40, 160, 60}, func(dx, dy, s, _ float64) bool {
		return dy <= s && dy >= -s && math.Abs(dx) <= 0.6*(dy+s)
	}, false},
	{"star", [3]int{140, 50, 170}, func(dx, dy, s, _ float64) bool {
		// Five points, one up: the radius goes from s at a point to 0.45s
		// between two, linearly in the angle.
		const points = 5
		sector := 2 * math.Pi / points
		t := math.Mod(math.Atan2(dy, dx)+math.Pi/2+4*math.Pi, sector) / sector
		return math.Hypot(dx, dy) <= s*(1-0.55*(1-math.Abs(2*t-1)))
	}, false},
}

// DemoClassNames are the demo classes in label order.
func DemoClassNames() []string {
	out := make([]string, len(demoClasses))
	for i, c := range demoClasses {
		out[i] = c.name
	}
	return out
}

// renderDemo draws image n of class c; the pixels depend only on (c, n).
func renderDemo(st demoStyle, c, n int) []byte {
	rng := rand.New(rand.NewPCG(uint64(c)+st.seed, uint64(n)))
	d := demoDrawing{class: c, outline: st.outline}
	for k := range 3 {
		d.bg[k] = st.bgLow + rng.IntN(50)
		d.fg[k] = demoClasses[c].colour[k] + rng.IntN(2*demoColourJitter+1) - demoColourJitter
	}
	d.cx = demoSide/2 + rng.Float64()*12 - 6
	d.cy = demoSide/2 + rng.Float64()*12 - 6
	d.scale = st.scaleLow + rng.Float64()*6
	d.phase = rng.Float64() * 16
	return encodeDemoJPEG(d.render(rng))
}

// demoDrawing is one demo picture: a shape or texture of a class in one
// colour on a plain background, placed at (cx, cy) at a scale. With
// outline set a shape is drawn as its outline, that many pixels wide (a
// sketch); textures are drawn the same either way.
type demoDrawing struct {
	class                int
	fg, bg               [3]int
	cx, cy, scale, phase float64
	outline              float64
}

// demoOutline is the line width of outlined shapes on the 48-pixel canvas.
const demoOutline = 3

// covers reports whether the pixel at offset (dx, dy) from the centre is
// drawn in the foreground colour.
func (d demoDrawing) covers(dx, dy float64) bool {
	cls := demoClasses[d.class]
	if !cls.inside(dx, dy, d.scale, d.phase) {
		return false
	}
	return d.outline == 0 || cls.texture || !cls.inside(dx, dy, d.scale-d.outline, d.phase)
}

// render draws d on a demoSide² canvas, adding to every channel of every
// pixel a noise drawn from rng.
func (d demoDrawing) render(rng *rand.Rand) *Image {
	img := NewImage(demoSide, demoSide)
	for y := 0; y < demoSide; y++ {
		for x := 0; x < demoSide; x++ {
			col := d.bg
			if d.covers(float64(x)+0.5-d.cx, float64(y)+0.5-d.cy) {
				col = d.fg
			}
			i := (y*demoSide + x) * 3
			for k := range 3 {
				v := col[k] + rng.IntN(2*demoNoiseLevel+1) - demoNoiseLevel
				img.Pix[i+k] = uint8(min(max(v, 0), 255))
			}
		}
	}
	return img
}

func encodeDemoJPEG(img *Image) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img.ToImage(), &jpeg.Options{Quality: demoJPEGQuality}); err != nil {
		panic(err) // encoding into memory cannot fail
	}
	return buf.Bytes()
}

// demoFiles renders one whole demo dataset: file path (relative to
// <root>/<name>, slash-separated) -> bytes.
func demoFiles(st demoStyle) (map[string][]byte, error) {
	files := map[string][]byte{}
	split := map[string][][3]any{"train": {}, "val": {}, "test": {}}
	for c, cls := range demoClasses {
		for n := range demoPerClass {
			rel := path.Join(cls.name, fmt.Sprintf("%s_%d.jpg", cls.name, n))
			files[path.Join(demoImageDir, rel)] = renderDemo(st, c, n)
			key := "test"
			switch {
			case n < demoTrain:
				key = "train"
			case n < demoTrain+demoVal:
				key = "val"
			}
			split[key] = append(split[key], [3]any{rel, c, cls.name})
		}
	}
	b, err := json.MarshalIndent(split, "", " ")
	if err != nil {
		return nil, err
	}
	files[st.splitFile] = append(b, '\n')
	return files, nil
}

// WriteDemo writes the synthetic demo datasets in a CoOp json layout:
// <root>/demo/images/<class>/<class>_<n>.jpg and <root>/demo/split_zhou_Demo.json
// (paths relative to <root>/demo/images), and likewise <root>/demo_b with
// split_zhou_DemoB.json. The bytes are the same on every run.
// It is idempotent: every file is rendered in memory and compared with what is
// on disk, and only missing or different files are written (atomically), so a
// complete dataset is left untouched (a read-only root is fine then).
func WriteDemo(root string) error {
	for _, name := range []string{DemoName, DemoShiftedName} {
		if err := writeDemo(root, demoStyles[name]); err != nil {
			return err
		}
	}
	return nil
}

func writeDemo(root string, st demoStyle) error {
	files, err := demoFiles(st)
	if err != nil {
		return err
	}
	dir := filepath.Join(root, layouts[st.name].folder)
	for rel, want := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if have, err := os.ReadFile(p); err == nil && bytes.Equal(have, want) {
			continue
		}
		if err := writeRebuildable(p, want); err != nil {
			return fmt.Errorf("demo dataset: %w", err)
		}
	}
	return nil
}

package data

import (
	"math/rand/v2"
	"runtime"
	"strings"
)

// The demo model's pre-training data: synthetic image-caption pairs drawn
// like the demo datasets' pictures (the same eight shapes and textures on
// the same canvas with the same pixel noise), but with every attribute
// varied: any colour of a palette on a light or dark background, at any
// size, filled or sketched (outlined). Captions name the class, often the
// colour and size, and the background, in the vocabulary's words; a sketch's
// caption begins "a sketch of" or "an outline of", a filled shape's "a photo
// of", "a picture of", "this is"... A model trained on them contrastively has
// seen every class in every colour, so it can only tell the classes apart
// by shape; what the demo datasets add (one colour per class, JPEG
// artefacts, sketches only, demo_b's darker and larger pictures) is for
// prompt tuning to find.

// demoColour is a named colour of the caption palette.
type demoColour struct {
	name string
	rgb  [3]int
	// light and dark say whether the colour shows on a light or a dark
	// background (white vanishes on one, black on the other).
	light, dark bool
}

var demoPalette = []demoColour{
	{"red", [3]int{210, 40, 40}, true, true},
	{"blue", [3]int{40, 70, 200}, true, true},
	{"green", [3]int{40, 160, 60}, true, true},
	{"orange", [3]int{240, 150, 20}, true, true},
	{"purple", [3]int{140, 50, 170}, true, true},
	{"teal", [3]int{20, 150, 150}, true, true},
	{"pink", [3]int{230, 100, 170}, true, true},
	{"yellow", [3]int{230, 210, 40}, true, true},
	{"brown", [3]int{120, 70, 30}, true, true},
	{"grey", [3]int{128, 128, 128}, true, true},
	{"black", [3]int{30, 30, 30}, true, false},
	{"white", [3]int{235, 235, 235}, false, true},
}

// Background tones: channel values are low + [0, 70).
const (
	demoLightBackground = 180
	demoDarkBackground  = 10
	demoBackgroundRange = 70
)

// Shape scales of the pre-training pictures, and the bounds below and
// above which a caption calls a shape small or big.
const (
	demoMinScale, demoMaxScale = 8.0, 20.0
	demoSmall, demoBig         = 11.0, 17.0
)

// demoCaptionForms are the caption templates of filled shapes: {np} is the
// noun phrase ("a red circle", "red stripes", "a circle"), {bg} the
// background word.
var demoCaptionForms = []string{
	"{np}",
	"{np}.",
	"{np} on a {bg} background",
	"a photo of {np}.",
	"a picture of {np}",
	"an image of {np}",
	"this is {np}.",
}

// demoSketchForms are the caption templates of outlined shapes: the
// medium comes first, where a prompt's context words go, and the noun
// phrase is the same as a filled shape's, so a class name alone does not
// tell a sketch from a photo.
var demoSketchForms = []string{
	"a sketch of {np}",
	"a sketch of {np} on a {bg} background",
	"an outline of {np}",
}

// demoCaptionWords are the words of demoCaptionForms and the attribute
// words the noun phrases use (besides colour and class names).
const demoCaptionWords = "a an on background photo of picture image this is sketch outline small big light dark"

// DemoCaptionWords are the words every pre-training caption is made of: a
// vocabulary that holds each as a whole word encodes every caption word
// for word.
func DemoCaptionWords() []string {
	words := strings.Fields(demoCaptionWords)
	for _, c := range demoPalette {
		words = append(words, c.name)
	}
	return append(words, DemoClassNames()...)
}

// CaptionedImages is a batch of pre-training pairs.
type CaptionedImages struct {
	Images   []float32 // len(Captions)×3×Size×Size, CLIP-normalised, channel-major
	Captions []string
	Size     int
}

// DemoPairs returns batch number index of the pre-training stream of seed:
// n pictures, each brought to size×size by the test resize and normalised
// like the loader's, with their captions. The batch is made of scenes drawn
// once for every class (the last scene for as many classes as are left, in a
// random order): within a scene the pictures share colour, background, size
// and caption form, so only the shape tells their captions apart. Such hard
// negatives make shape, not just colour, what the contrastive loss teaches.
// No caption appears twice in a batch (CLIP's loss takes every other
// caption of the batch for a wrong one). The batch depends only on (seed,
// index, n, size).
func DemoPairs(seed uint64, index, n, size int) CaptionedImages {
	rng := rand.New(rand.NewPCG(seed, uint64(index)))
	out := CaptionedImages{Images: make([]float32, n*3*size*size), Captions: make([]string, 0, n), Size: size}
	drawings := make([]demoDrawing, 0, n)
	seen := map[string]bool{}
	for len(out.Captions) < n {
		scene := randomDemoScene(rng)
		if key := scene.caption(0); seen[key] {
			continue
		} else {
			seen[key] = true
		}
		for _, class := range rng.Perm(len(demoClasses))[:min(len(demoClasses), n-len(out.Captions))] {
			drawings = append(drawings, scene.drawing(class, rng))
			out.Captions = append(out.Captions, scene.caption(class))
		}
	}
	// Each picture's pixel noise has its own stream, so the pictures are
	// drawn in parallel and the batch is the same however many there are.
	noiseSeed := rng.Uint64()
	parallel(runtime.GOMAXPROCS(0), n, func(i int) {
		img := drawings[i].render(rand.New(rand.NewPCG(noiseSeed, uint64(i))))
		ToCHW(Prepare(img, ShorterSideCrop, size), out.Images[i*3*size*size:(i+1)*3*size*size])
	})
	return out
}

// demoScene is what the pictures of one scene share.
type demoScene struct {
	colour               demoColour
	light                bool // background
	sketch               bool // outlined shapes
	scale                float64
	form                 string
	sizeWord, colourWord bool
}

// randomDemoScene draws a scene: a colour that shows on a light or dark
// background, a scale, and a caption form; most captions name the colour,
// half of them the size when it is small or big.
func randomDemoScene(rng *rand.Rand) demoScene {
	s := demoScene{light: rng.IntN(2) == 0}
	for {
		s.colour = demoPalette[rng.IntN(len(demoPalette))]
		if s.light && s.colour.light || !s.light && s.colour.dark {
			break
		}
	}
	s.scale = demoMinScale + rng.Float64()*(demoMaxScale-demoMinScale)
	s.sketch = rng.IntN(2) == 0
	forms := demoCaptionForms
	if s.sketch {
		forms = demoSketchForms
	}
	s.form = forms[rng.IntN(len(forms))]
	s.sizeWord = rng.IntN(2) == 0
	s.colourWord = rng.IntN(4) == 0
	return s
}

// drawing places a picture of class in the scene: its own background
// shade, colour jitter, position and texture phase.
func (s demoScene) drawing(class int, rng *rand.Rand) demoDrawing {
	low := demoDarkBackground
	if s.light {
		low = demoLightBackground
	}
	d := demoDrawing{class: class, scale: s.scale}
	if s.sketch {
		d.outline = demoOutline
	}
	for k := range 3 {
		d.bg[k] = low + rng.IntN(demoBackgroundRange)
		d.fg[k] = min(max(s.colour.rgb[k]+rng.IntN(2*demoColourJitter+1)-demoColourJitter, 0), 255)
	}
	d.cx = demoSide/2 + rng.Float64()*16 - 8
	d.cy = demoSide/2 + rng.Float64()*16 - 8
	d.phase = rng.Float64() * 16
	return d
}

// caption describes the picture of class in the scene.
func (s demoScene) caption(class int) string {
	var adjectives []string
	if s.sizeWord {
		switch {
		case s.scale < demoSmall:
			adjectives = append(adjectives, "small")
		case s.scale > demoBig:
			adjectives = append(adjectives, "big")
		}
	}
	if s.colourWord {
		adjectives = append(adjectives, s.colour.name)
	}
	bg := "dark"
	if s.light {
		bg = "light"
	}
	return strings.NewReplacer("{np}", nounPhrase(adjectives, demoClasses[class]), "{bg}", bg).Replace(s.form)
}

// nounPhrase is the adjectives and the class name after "a" or "an" (no
// article for the plural texture names).
func nounPhrase(adjectives []string, class demoClass) string {
	phrase := strings.Join(append(adjectives, class.name), " ")
	switch {
	case class.texture:
		return phrase
	case strings.ContainsRune("aeiou", rune(phrase[0])):
		return "an " + phrase
	}
	return "a " + phrase
}

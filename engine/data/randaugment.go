package data

import (
	"math"
	"math/rand/v2"
	"strconv"
)

// RandAugment is Dassl's RandAugment (dassl/data/transforms/randaugment.py,
// randaugment_list), not torchvision's: N ops drawn with replacement from 16,
// each applied in turn at magnitude (M/30)(max-min)+min.
//
// Every op is written by hand over the package's RGB Image, after the Pillow
// C/Python code that Dassl calls (ImageOps, ImageEnhance, Image.transform,
// ImageDraw), because no Go library reproduces those operations: e.g. the
// nearest-neighbour affine map that samples pixel centres in 16.16 fixed
// point, ImageEnhance's float32 blend truncated to uint8, the SMOOTH filter
// that leaves the border untouched, equalize's integer histogram steps and
// autocontrast's truncating lookup table. Each function names its Pillow
// counterpart. The only source of randomness is the *rand.Rand passed to
// Apply, so a seeded generator gives the same augmentation every run; the
// sequence of numbers differs from Python's random/np.random.
type RandAugment struct {
	N int // ops per image (Dassl's RANDAUGMENT_N, 2)
	M int // magnitude 0..30 (Dassl's RANDAUGMENT_M, 10)
	// PixelScale multiplies the two magnitudes that are absolute pixel
	// counts (CutoutAbs's side, Translate*abs's shift); 0 means 1, Dassl's
	// values, which assume 224-pixel images (at 32 pixels a 33-pixel shift
	// blanks the image; size/224 keeps the same fraction).
	PixelScale float64
}

// DefaultRandAugment is the configuration fomo trains with: n=2, m=10.
func DefaultRandAugment() RandAugment { return RandAugment{N: 2, M: 10} }

type augOp struct {
	name     string
	min, max float64
	pixels   bool // magnitude is a pixel count (PixelScale applies)
	apply    func(img *Image, v float64, rng *rand.Rand) *Image
}

// signFlip is Dassl's "if random.random() > 0.5: v = -v".
func signFlip(v float64, rng *rand.Rand) float64 {
	if rng.Float64() > 0.5 {
		return -v
	}
	return v
}

// augOps is randaugment_list() in Dassl's order.
var augOps = []augOp{
	{"AutoContrast", 0, 1, false, func(m *Image, _ float64, _ *rand.Rand) *Image { return AutoContrast(m) }},
	{"Equalize", 0, 1, false, func(m *Image, _ float64, _ *rand.Rand) *Image { return Equalize(m) }},
	{"Invert", 0, 1, false, func(m *Image, _ float64, _ *rand.Rand) *Image { return Invert(m) }},
	{"Rotate", 0, 30, false, func(m *Image, v float64, r *rand.Rand) *Image { return Rotate(m, signFlip(v, r)) }},
	{"Posterize", 4, 8, false, func(m *Image, v float64, _ *rand.Rand) *Image { return Posterize(m, int(v)) }},
	{"Solarize", 0, 256, false, func(m *Image, v float64, _ *rand.Rand) *Image { return Solarize(m, v) }},
	{"SolarizeAdd", 0, 110, false, func(m *Image, v float64, _ *rand.Rand) *Image { return SolarizeAdd(m, v, 128) }},
	{"Color", 0.1, 1.9, false, func(m *Image, v float64, _ *rand.Rand) *Image { return Color(m, v) }},
	{"Contrast", 0.1, 1.9, false, func(m *Image, v float64, _ *rand.Rand) *Image { return Contrast(m, v) }},
	{"Brightness", 0.1, 1.9, false, func(m *Image, v float64, _ *rand.Rand) *Image { return Brightness(m, v) }},
	{"Sharpness", 0.1, 1.9, false, func(m *Image, v float64, _ *rand.Rand) *Image { return Sharpness(m, v) }},
	{"ShearX", 0, 0.3, false, func(m *Image, v float64, r *rand.Rand) *Image { return ShearX(m, signFlip(v, r)) }},
	{"ShearY", 0, 0.3, false, func(m *Image, v float64, r *rand.Rand) *Image { return ShearY(m, signFlip(v, r)) }},
	{"CutoutAbs", 0, 40, true, func(m *Image, v float64, r *rand.Rand) *Image {
		// np.random.uniform(w) is uniform(low=w, high=1.0): w + (1-w)*U,
		// a point in (1, w]; Dassl draws x before y.
		x := float64(m.Width) + float64((1-float64(m.Width))*r.Float64())
		y := float64(m.Height) + float64((1-float64(m.Height))*r.Float64())
		return CutoutAbs(m, x, y, v)
	}},
	{"TranslateXabs", 0, 100, true, func(m *Image, v float64, r *rand.Rand) *Image { return TranslateX(m, signFlip(v, r)) }},
	{"TranslateYabs", 0, 100, true, func(m *Image, v float64, r *rand.Rand) *Image { return TranslateY(m, signFlip(v, r)) }},
}

// RandAugmentOps names the 16 ops in Dassl's order (the index Apply draws).
func RandAugmentOps() []string {
	names := make([]string, len(augOps))
	for i, op := range augOps {
		names[i] = op.name
	}
	return names
}

// magnitude is (m/30)*(max-min)+min, evaluated as Python does.
func (ra RandAugment) magnitude(op augOp) float64 {
	v := float64(float64(float64(ra.M)/30)*(op.max-op.min)) + op.min
	if op.pixels && ra.PixelScale > 0 {
		v *= ra.PixelScale
	}
	return v
}

// Apply draws N ops (all N first, as random.choices does) and applies them in
// order; img is not modified.
func (ra RandAugment) Apply(img *Image, rng *rand.Rand) *Image {
	picks := make([]int, ra.N)
	for i := range picks {
		picks[i] = rng.IntN(len(augOps))
	}
	out := img
	for _, p := range picks {
		out = augOps[p].apply(out, ra.magnitude(augOps[p]), rng)
	}
	if out == img {
		out = img.Clone()
	}
	return out
}

// mapLUT applies one 256-entry lookup table per channel (Image.point).
func mapLUT(img *Image, lut *[3][256]uint8) *Image {
	out := NewImage(img.Width, img.Height)
	for i := 0; i < len(img.Pix); i += 3 {
		out.Pix[i] = lut[0][img.Pix[i]]
		out.Pix[i+1] = lut[1][img.Pix[i+1]]
		out.Pix[i+2] = lut[2][img.Pix[i+2]]
	}
	return out
}

func sameLUT(f func(v int) int) *[3][256]uint8 {
	var lut [3][256]uint8
	for v := range 256 {
		x := min(max(f(v), 0), 255) // Image.point clips list entries to 0..255
		lut[0][v], lut[1][v], lut[2][v] = uint8(x), uint8(x), uint8(x)
	}
	return &lut
}

func histograms(img *Image) (h [3][256]int) {
	for i := 0; i < len(img.Pix); i += 3 {
		h[0][img.Pix[i]]++
		h[1][img.Pix[i+1]]++
		h[2][img.Pix[i+2]]++
	}
	return h
}

// AutoContrast is ImageOps.autocontrast(img) (cutoff 0): per channel, the
// range [lo, hi] of the values present is stretched to [0, 255] with
// int(v*scale + offset); a channel with a single value is left alone.
func AutoContrast(img *Image) *Image {
	h := histograms(img)
	var lut [3][256]uint8
	for c := range 3 {
		lo, hi := 0, 255
		for lo < 256 && h[c][lo] == 0 {
			lo++
		}
		for hi >= 0 && h[c][hi] == 0 {
			hi--
		}
		if hi <= lo {
			for v := range 256 {
				lut[c][v] = uint8(v)
			}
			continue
		}
		scale := 255.0 / float64(hi-lo)
		offset := -float64(lo) * scale
		for v := range 256 {
			x := int(float64(float64(v)*scale) + offset)
			lut[c][v] = uint8(min(max(x, 0), 255))
		}
	}
	return mapLUT(img, &lut)
}

// Equalize is ImageOps.equalize(img): per channel, step = (pixels - count of
// the last present value) // 255, and value i maps to (step//2 + number of
// pixels below i) // step; a channel with one value (or step 0) is left alone.
func Equalize(img *Image) *Image {
	h := histograms(img)
	var lut [3][256]uint8
	for c := range 3 {
		total, last, present := 0, 0, 0
		for _, n := range h[c] {
			if n > 0 {
				total += n
				last = n
				present++
			}
		}
		step := 0
		if present > 1 {
			step = (total - last) / 255
		}
		if step == 0 {
			for v := range 256 {
				lut[c][v] = uint8(v)
			}
			continue
		}
		n := step / 2
		for v := range 256 {
			lut[c][v] = uint8(min(n/step, 255))
			n += h[c][v]
		}
	}
	return mapLUT(img, &lut)
}

// Invert is ImageOps.invert: 255 - v.
func Invert(img *Image) *Image { return mapLUT(img, sameLUT(func(v int) int { return 255 - v })) }

// Posterize is ImageOps.posterize(img, bits): keep the top bits of each value.
func Posterize(img *Image, bits int) *Image {
	mask := ^(1<<(8-bits) - 1)
	return mapLUT(img, sameLUT(func(v int) int { return v & mask }))
}

// Solarize is ImageOps.solarize(img, threshold): values >= threshold are
// inverted.
func Solarize(img *Image, threshold float64) *Image {
	return mapLUT(img, sameLUT(func(v int) int {
		if float64(v) < threshold {
			return v
		}
		return 255 - v
	}))
}

// SolarizeAdd is Dassl's SolarizeAdd: add (as a float to the int pixels, clip
// to 0..255, truncate to uint8 -- so +36.67 adds 36), then solarize.
func SolarizeAdd(img *Image, add, threshold float64) *Image {
	return mapLUT(img, sameLUT(func(v int) int {
		x := int(math.Min(math.Max(float64(v)+add, 0), 255))
		if float64(x) < threshold {
			return x
		}
		return 255 - x
	}))
}

// blend is Image.blend(degenerate, img, factor), i.e. ImageEnhance's
// enhance(factor): degenerate + factor*(img - degenerate) in float32,
// truncated to uint8 (clipped when factor is outside [0, 1]).
func blend(degenerate, img *Image, factor float64) *Image {
	if factor == 0 {
		return degenerate.Clone()
	}
	if factor == 1 {
		return img.Clone()
	}
	alpha := float32(factor)
	out := NewImage(img.Width, img.Height)
	inside := factor >= 0 && factor <= 1
	for i, v2 := range img.Pix {
		v1 := degenerate.Pix[i]
		t := float32(v1) + float32(alpha*float32(int(v2)-int(v1)))
		switch {
		case inside && t >= 0:
			out.Pix[i] = uint8(t)
		case t <= 0:
			out.Pix[i] = 0
		case t >= 255:
			out.Pix[i] = 255
		default:
			out.Pix[i] = uint8(t)
		}
	}
	return out
}

// luma is PIL's RGB->L conversion (ITU-R 601-2 in 16-bit fixed point, rounded).
func luma(r, g, b uint8) uint8 {
	return uint8((uint32(r)*19595 + uint32(g)*38470 + uint32(b)*7471 + 0x8000) >> 16)
}

// Color is ImageEnhance.Color(img).enhance(factor): blend with the image's
// grey version.
func Color(img *Image, factor float64) *Image {
	grey := NewImage(img.Width, img.Height)
	for i := 0; i < len(img.Pix); i += 3 {
		l := luma(img.Pix[i], img.Pix[i+1], img.Pix[i+2])
		grey.Pix[i], grey.Pix[i+1], grey.Pix[i+2] = l, l, l
	}
	return blend(grey, img, factor)
}

// Contrast is ImageEnhance.Contrast(img).enhance(factor): blend with a flat
// grey at the mean luma, int(mean + 0.5).
func Contrast(img *Image, factor float64) *Image {
	var sum float64
	n := img.Width * img.Height
	var hist [256]int
	for i := 0; i < len(img.Pix); i += 3 {
		hist[luma(img.Pix[i], img.Pix[i+1], img.Pix[i+2])]++
	}
	for v, c := range hist {
		sum += float64(v * c)
	}
	mean := uint8(int(sum/float64(n) + 0.5))
	flat := NewImage(img.Width, img.Height)
	for i := range flat.Pix {
		flat.Pix[i] = mean
	}
	return blend(flat, img, factor)
}

// Brightness is ImageEnhance.Brightness(img).enhance(factor): blend with black.
func Brightness(img *Image, factor float64) *Image {
	return blend(NewImage(img.Width, img.Height), img, factor)
}

// Sharpness is ImageEnhance.Sharpness(img).enhance(factor): blend with
// ImageFilter.SMOOTH.
func Sharpness(img *Image, factor float64) *Image {
	return blend(smooth(img), img, factor)
}

// smooth is img.filter(ImageFilter.SMOOTH): the 3×3 kernel
// [1 1 1; 1 5 1; 1 1 1]/13 in float32 with +0.5 rounding (ImagingFilter3x3),
// border rows and columns copied unchanged.
func smooth(img *Image) *Image {
	w, h := img.Width, img.Height
	if w < 3 || h < 3 {
		return img.Clone()
	}
	k := [9]float32{1, 1, 1, 1, 5, 1, 1, 1, 1}
	for i := range k {
		k[i] /= 13
	}
	out := img.Clone()
	stride := w * 3
	for y := 1; y < h-1; y++ {
		below := img.Pix[(y+1)*stride:]
		row := img.Pix[y*stride:]
		above := img.Pix[(y-1)*stride:]
		o := out.Pix[y*stride:]
		for x := 1; x < w-1; x++ {
			for c := range 3 {
				i := 3*x + c
				ss := float32(0.5)
				// Same association order as PIL's KERNEL1x3 sums, the row
				// below first (PIL's kernel is applied flipped; SMOOTH is
				// symmetric).
				ss += kernelRow(below, i, k[0:3])
				ss += kernelRow(row, i, k[3:6])
				ss += kernelRow(above, i, k[6:9])
				switch {
				case ss <= 0:
					o[i] = 0
				case ss >= 255:
					o[i] = 255
				default:
					o[i] = uint8(ss)
				}
			}
		}
	}
	return out
}

func kernelRow(row []uint8, i int, k []float32) float32 {
	a := float32(float32(row[i-3]) * k[0])
	b := float32(float32(row[i]) * k[1])
	c := float32(float32(row[i+3]) * k[2])
	return float32(a+b) + c
}

// affineNearest is Image.transform(size, AFFINE, m, NEAREST) with a black
// fill: output pixel (x, y) takes the input pixel under
// (m0*x' + m1*y' + m2, m3*x' + m4*y' + m5) at its centre x' = x+0.5,
// y' = y+0.5. As in Pillow's ImagingTransformAffine, a pure scale/translate
// steps in floating point and truncates (ImagingScaleAffine), anything else
// steps in 16.16 fixed point and floors (affine_fixed).
func affineNearest(img *Image, m [6]float64) *Image {
	w, h := img.Width, img.Height
	out := NewImage(w, h)
	put := func(x, y, xin, yin int) {
		if xin >= 0 && xin < w && yin >= 0 && yin < h {
			copy(out.Pix[(y*w+x)*3:(y*w+x)*3+3], img.Pix[(yin*w+xin)*3:])
		}
	}
	coord := func(v float64) int { // PIL's COORD
		if v < 0 {
			return -1
		}
		return int(v)
	}
	if m[1] == 0 && m[3] == 0 {
		xo := m[2] + float64(m[0]*0.5)
		yo := m[5] + float64(m[4]*0.5)
		xin := make([]int, w)
		for x := range xin {
			xin[x] = coord(xo)
			xo += m[0]
		}
		for y := 0; y < h; y++ {
			yi := coord(yo)
			for x := 0; x < w; x++ {
				put(x, y, xin[x], yi)
			}
			yo += m[4]
		}
		return out
	}
	fits := func(x, y float64) bool {
		return math.Abs(float64(x*m[0])+float64(y*m[1])+m[2]) < 32768 &&
			math.Abs(float64(x*m[3])+float64(y*m[4])+m[5]) < 32768
	}
	fw, fh := float64(w), float64(h)
	if !(fits(0, 0) && fits(fw, fh) && fits(0, fh) && fits(fw, 0)) {
		// Pillow's floating-point fallback, for coordinates beyond 16.16.
		xo := m[2] + float64(m[1]*0.5) + float64(m[0]*0.5)
		yo := m[5] + float64(m[4]*0.5) + float64(m[3]*0.5)
		for y := 0; y < h; y++ {
			xx, yy := xo, yo
			for x := 0; x < w; x++ {
				put(x, y, coord(xx), coord(yy))
				xx += m[0]
				yy += m[3]
			}
			xo += m[1]
			yo += m[4]
		}
		return out
	}
	fix := func(v float64) int { return int(math.Floor(float64(v*65536) + 0.5)) }
	a0, a1, a3, a4 := fix(m[0]), fix(m[1]), fix(m[3]), fix(m[4])
	a2 := fix(m[2] + float64(m[0]*0.5) + float64(m[1]*0.5))
	a5 := fix(m[5] + float64(m[3]*0.5) + float64(m[4]*0.5))
	for y := 0; y < h; y++ {
		xx, yy := a2, a5
		for x := 0; x < w; x++ {
			put(x, y, xx>>16, yy>>16)
			xx += a0
			yy += a3
		}
		a2 += a1
		a5 += a4
	}
	return out
}

// round15 is Python's round(x, 15).
func round15(x float64) float64 {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', 15, 64), 64)
	return r
}

// Rotate is img.rotate(degrees): counter-clockwise about the centre (w/2,
// h/2), nearest neighbour, black outside, same size. Like Pillow, 0 and 180
// degrees (and 90/270 on a square image) are exact transposes.
func Rotate(img *Image, degrees float64) *Image {
	angle := math.Mod(degrees, 360)
	if angle < 0 {
		angle += 360 // Python's % takes the sign of the divisor
	}
	w, h := img.Width, img.Height
	switch {
	case angle == 0:
		return img.Clone()
	case angle == 180:
		return transpose(img, func(x, y int) (int, int) { return w - 1 - x, h - 1 - y })
	case angle == 90 && w == h:
		return transpose(img, func(x, y int) (int, int) { return w - 1 - y, x })
	case angle == 270 && w == h:
		return transpose(img, func(x, y int) (int, int) { return y, h - 1 - x })
	}
	rad := -(angle * (math.Pi / 180))
	cos, sin := round15(math.Cos(rad)), round15(math.Sin(rad))
	m := [6]float64{cos, sin, 0, round15(-math.Sin(rad)), cos, 0}
	cx, cy := float64(w)/2, float64(h)/2
	m[2] = float64(m[0]*-cx) + float64(m[1]*-cy) + 0
	m[5] = float64(m[3]*-cx) + float64(m[4]*-cy) + 0
	m[2] += cx
	m[5] += cy
	return affineNearest(img, m)
}

// transpose builds out(x, y) = img(src(x, y)) for a size-preserving permutation.
func transpose(img *Image, src func(x, y int) (int, int)) *Image {
	w, h := img.Width, img.Height
	out := NewImage(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			sx, sy := src(x, y)
			copy(out.Pix[(y*w+x)*3:(y*w+x)*3+3], img.Pix[(sy*w+sx)*3:])
		}
	}
	return out
}

// ShearX is img.transform(size, AFFINE, (1, v, 0, 0, 1, 0)): row y reads from
// x + v*y, about the top-left corner (Dassl does not centre it).
func ShearX(img *Image, v float64) *Image { return affineNearest(img, [6]float64{1, v, 0, 0, 1, 0}) }

// ShearY is img.transform(size, AFFINE, (1, 0, 0, v, 1, 0)).
func ShearY(img *Image, v float64) *Image { return affineNearest(img, [6]float64{1, 0, 0, v, 1, 0}) }

// TranslateX is Dassl's TranslateXabs: img.transform(size, AFFINE,
// (1, 0, px, 0, 1, 0)), so output x reads input x+px: a positive px moves the
// content left; uncovered pixels are black.
func TranslateX(img *Image, px float64) *Image {
	return affineNearest(img, [6]float64{1, 0, px, 0, 1, 0})
}

// TranslateY is Dassl's TranslateYabs (positive px moves the content up).
func TranslateY(img *Image, px float64) *Image {
	return affineNearest(img, [6]float64{1, 0, 0, 0, 1, px})
}

// CutoutFill is the colour Dassl's CutoutAbs paints.
var CutoutFill = [3]uint8{125, 123, 114}

// CutoutAbs is Dassl's CutoutAbs with the centre (cx, cy) already drawn:
// x0 = int(max(0, cx - v/2)), x1 = min(w, x0 + v), likewise y, painted with
// ImageDraw.rectangle, which truncates the corners to int and includes both
// ends -- so v = 13.33 paints a 14×14 square (clipped at the image edge).
func CutoutAbs(img *Image, cx, cy, v float64) *Image {
	out := img.Clone()
	if v < 0 {
		return out
	}
	w, h := img.Width, img.Height
	x0 := int(math.Max(0, cx-v/2))
	y0 := int(math.Max(0, cy-v/2))
	x1 := min(int(math.Min(float64(w), float64(x0)+v)), w-1)
	y1 := min(int(math.Min(float64(h), float64(y0)+v)), h-1)
	for y := y0; y <= y1; y++ {
		for x := x0; x <= x1; x++ {
			i := (y*w + x) * 3
			out.Pix[i], out.Pix[i+1], out.Pix[i+2] = CutoutFill[0], CutoutFill[1], CutoutFill[2]
		}
	}
	return out
}

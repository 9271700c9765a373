package data

import (
	"bufio"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // registers JPEG with image.Decode
	_ "image/png"  // registers PNG with image.Decode
	"math"
	"os"
)

// Image is an 8-bit RGB raster (PIL's "RGB" mode): rows top to bottom, three
// bytes per pixel. Every transform of the package works on it.
type Image struct {
	Width, Height int
	Pix           []uint8 // len = Width*Height*3
}

// NewImage returns a black w×h image.
func NewImage(w, h int) *Image {
	return &Image{Width: w, Height: h, Pix: make([]uint8, w*h*3)}
}

// Clone returns a deep copy.
func (m *Image) Clone() *Image {
	return &Image{Width: m.Width, Height: m.Height, Pix: append([]uint8(nil), m.Pix...)}
}

// DecodeFile reads a JPEG or PNG file into RGB, as PIL's
// Image.open(p).convert("RGB") does. An unreadable or corrupt file is an error
// naming its path.
//
// JPEG entropy decoding and the IDCT are Go's image/jpeg; the chroma
// upsampling and YCbCr->RGB conversion after it are libjpeg's (see
// fromYCbCr), which is what PIL uses. What remains is the IDCT: Go's and
// libjpeg-turbo's integer IDCTs round differently, so a few percent of JPEG
// pixels differ from PIL's by one level. PNG decodes exactly. EXIF
// orientation is ignored, as PIL's open does.
func DecodeFile(path string) (*Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read image: %w", err)
	}
	defer f.Close()
	src, _, err := image.Decode(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("decode image %s: %w", path, err)
	}
	return FromImage(src), nil
}

// FromImage converts any image.Image to RGB. Alpha is dropped (not
// composited), as PIL's RGBA->RGB conversion does.
func FromImage(src image.Image) *Image {
	b := src.Bounds()
	out := NewImage(b.Dx(), b.Dy())
	p := out.Pix
	switch s := src.(type) {
	case *image.YCbCr:
		fromYCbCr(out, s)
	case *image.Gray:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := s.Pix[s.PixOffset(b.Min.X, y):]
			for x := 0; x < b.Dx(); x++ {
				p[0], p[1], p[2] = row[x], row[x], row[x]
				p = p[3:]
			}
		}
	case *image.RGBA:
		copyRGB(p, s.Pix, s.Stride, s.PixOffset(b.Min.X, b.Min.Y), b.Dx(), b.Dy())
	case *image.NRGBA:
		copyRGB(p, s.Pix, s.Stride, s.PixOffset(b.Min.X, b.Min.Y), b.Dx(), b.Dy())
	default:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := color.NRGBAModel.Convert(src.At(x, y)).(color.NRGBA)
				p[0], p[1], p[2] = c.R, c.G, c.B
				p = p[3:]
			}
		}
	}
	return out
}

// fromYCbCr converts a decoded JPEG as libjpeg(-turbo) does by default, so
// that the pixels match PIL's: chroma subsampled 2×2 (4:2:0) or 2×1 (4:2:2)
// is brought to full size with libjpeg's "fancy" triangular upsampling
// (jdsample.c h2v2_fancy_upsample / h2v1_fancy_upsample: 3/4 of the nearer
// chroma sample and 1/4 of the next, with its rounding biases and its
// replicated edges) rather than image/jpeg's nearest sample, and colour is
// converted with jdcolor.c's 16-bit fixed-point tables. Other subsampling
// ratios take the nearest chroma sample.
func fromYCbCr(out *Image, s *image.YCbCr) {
	w, h := out.Width, out.Height
	cb := make([]uint8, w*h)
	cr := make([]uint8, w*h)
	switch {
	case s.Rect.Min != (image.Point{}):
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				ci := s.COffset(x+s.Rect.Min.X, y+s.Rect.Min.Y)
				cb[y*w+x], cr[y*w+x] = s.Cb[ci], s.Cr[ci]
			}
		}
	case s.SubsampleRatio == image.YCbCrSubsampleRatio420:
		cw, ch := (w+1)/2, (h+1)/2
		upsampleH2V2(cb, s.Cb, s.CStride, w, h, cw, ch)
		upsampleH2V2(cr, s.Cr, s.CStride, w, h, cw, ch)
	case s.SubsampleRatio == image.YCbCrSubsampleRatio422:
		cw := (w + 1) / 2
		upsampleH2V1(cb, s.Cb, s.CStride, w, h, cw)
		upsampleH2V1(cr, s.Cr, s.CStride, w, h, cw)
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				ci := s.COffset(x, y)
				cb[y*w+x], cr[y*w+x] = s.Cb[ci], s.Cr[ci]
			}
		}
	}
	p := out.Pix
	for y := 0; y < h; y++ {
		yrow := s.Y[s.YOffset(s.Rect.Min.X, s.Rect.Min.Y+y):]
		for x := 0; x < w; x++ {
			i := y*w + x
			p[3*i], p[3*i+1], p[3*i+2] = libjpegYCCToRGB(yrow[x], cb[i], cr[i])
		}
	}
}

// upsampleH2V2 is libjpeg's h2v2_fancy_upsample over a whole plane: each
// output sample is (9·nearest + 3·horizontal + 3·vertical + 1·diagonal
// neighbour)/16, rows and columns past the edge replicating the edge.
func upsampleH2V2(dst, src []uint8, stride, w, h, cw, ch int) {
	colsum := make([]int, cw)
	row := make([]uint8, 2*cw)
	for y := 0; y < h; y++ {
		near := y / 2
		far := near - 1 // even output rows lean on the row above
		if y%2 == 1 {
			far = near + 1
		}
		far = min(max(far, 0), ch-1)
		for i := range colsum {
			colsum[i] = 3*int(src[near*stride+i]) + int(src[far*stride+i])
		}
		for i, this := range colsum {
			last, next := colsum[max(i-1, 0)], colsum[min(i+1, cw-1)]
			row[2*i] = uint8((3*this + last + 8) >> 4)
			row[2*i+1] = uint8((3*this + next + 7) >> 4)
		}
		copy(dst[y*w:(y+1)*w], row)
	}
}

// upsampleH2V1 is libjpeg's h2v1_fancy_upsample: (3·nearest + neighbour)/4
// with alternating rounding biases.
func upsampleH2V1(dst, src []uint8, stride, w, h, cw int) {
	row := make([]uint8, 2*cw)
	for y := 0; y < h; y++ {
		in := src[y*stride : y*stride+cw]
		for i := range in {
			this := 3 * int(in[i])
			row[2*i] = uint8((this + int(in[max(i-1, 0)]) + 1) >> 2)
			row[2*i+1] = uint8((this + int(in[min(i+1, cw-1)]) + 2) >> 2)
		}
		copy(dst[y*w:(y+1)*w], row)
	}
}

// libjpeg's jdcolor.c tables: 16-bit fixed point, FIX(x) = round(x·65536).
var ycc = func() (t struct{ crR, cbB, crG, cbG [256]int }) {
	fix := func(x float64) int { return int(x*65536 + 0.5) }
	for i := range 256 {
		x := i - 128
		t.crR[i] = (fix(1.40200)*x + 1<<15) >> 16
		t.cbB[i] = (fix(1.77200)*x + 1<<15) >> 16
		t.crG[i] = -fix(0.71414) * x
		t.cbG[i] = -fix(0.34414)*x + 1<<15
	}
	return t
}()

func libjpegYCCToRGB(y, cb, cr uint8) (uint8, uint8, uint8) {
	yy := int(y)
	clamp := func(v int) uint8 { return uint8(min(max(v, 0), 255)) }
	return clamp(yy + ycc.crR[cr]),
		clamp(yy + (ycc.cbG[cb]+ycc.crG[cr])>>16),
		clamp(yy + ycc.cbB[cb])
}

func copyRGB(dst, src []uint8, stride, off, w, h int) {
	for y := 0; y < h; y++ {
		row := src[off+y*stride:]
		for x := 0; x < w; x++ {
			dst[0], dst[1], dst[2] = row[4*x], row[4*x+1], row[4*x+2]
			dst = dst[3:]
		}
	}
}

// ToImage returns the image as an *image.RGBA (opaque), e.g. for encoding.
func (m *Image) ToImage() *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, m.Width, m.Height))
	for i, j := 0, 0; i < len(m.Pix); i, j = i+3, j+4 {
		out.Pix[j], out.Pix[j+1], out.Pix[j+2], out.Pix[j+3] = m.Pix[i], m.Pix[i+1], m.Pix[i+2], 255
	}
	return out
}

// ---------------------------------------------------------------------------
// Bicubic resize, written by hand after Pillow's Resample.c so that, given the
// same decoded pixels, it returns PIL's bytes exactly: the a=-0.5 cubic kernel
// stretched by the scale factor when downscaling (PIL's antialiasing), taps
// normalised to sum 1 within the image, weights in 22-bit fixed point, a
// horizontal pass rounded to uint8 and then a vertical pass. x/image/draw's
// CatmullRom is the same kernel and also stretches it when downscaling, but
// it accumulates in float over 16-bit premultiplied colour with no uint8
// rounding between the passes, so its bytes differ from PIL's by a level or
// two on smooth images and by more at hard edges, where PIL clips the first
// pass's overshoot (the tests check both the agreement and PIL's bytes).

const resamplePrecision = 32 - 8 - 2 // PIL's PRECISION_BITS

// bicubicWeight is PIL's bicubic_filter (a = -0.5). The explicit float64
// conversions keep the compiler from fusing multiply-adds, so the weights are
// bit-identical to C's.
func bicubicWeight(x float64) float64 {
	const a = -0.5
	if x < 0 {
		x = -x
	}
	if x < 1 {
		t := float64((a+2)*x) - (a + 3)
		return float64(float64(t*x)*x) + 1
	}
	if x < 2 {
		t := float64((x-5)*x) + 8
		t = float64(t*x) - 4
		return t * a
	}
	return 0
}

// resampleTaps are the fixed-point taps of one resampling pass: output i reads
// count[i] inputs from first[i] on, with weights[i*ksize:].
type resampleTaps struct {
	ksize        int
	first, count []int
	weights      []int32
}

// precomputeBicubic is PIL's precompute_coeffs + normalize_coeffs_8bpc for an
// inSize -> outSize pass over the whole input.
func precomputeBicubic(inSize, outSize int) resampleTaps {
	scale := float64(inSize) / float64(outSize)
	filterscale := max(scale, 1)
	support := 2 * filterscale
	ksize := int(math.Ceil(support))*2 + 1
	t := resampleTaps{
		ksize:   ksize,
		first:   make([]int, outSize),
		count:   make([]int, outSize),
		weights: make([]int32, outSize*ksize),
	}
	k := make([]float64, ksize)
	ss := 1 / filterscale
	for xx := range outSize {
		center := float64(float64(xx)+0.5) * scale
		xmin := int(center - support + 0.5)
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		ww := 0.0
		for x := 0; x < xmax; x++ {
			w := bicubicWeight(float64(float64(x+xmin)-center+0.5) * ss)
			k[x] = w
			ww += w
		}
		for x := 0; x < xmax; x++ {
			if ww != 0 {
				k[x] /= ww
			}
			scaled := float64(k[x] * (1 << resamplePrecision))
			if k[x] < 0 {
				t.weights[xx*ksize+x] = int32(-0.5 + scaled)
			} else {
				t.weights[xx*ksize+x] = int32(0.5 + scaled)
			}
		}
		t.first[xx], t.count[xx] = xmin, xmax
	}
	return t
}

// clip8 is PIL's clip8 for the fixed-point accumulators.
func clip8(ss int32) uint8 {
	v := ss >> resamplePrecision
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// ResizeBicubic resizes src to w×h as PIL's Image.resize((w, h), BICUBIC).
func ResizeBicubic(src *Image, w, h int) *Image {
	if w <= 0 || h <= 0 {
		panic(fmt.Sprintf("data: resize to %dx%d", w, h))
	}
	cur := src
	if w != src.Width {
		cur = resampleHorizontal(cur, w)
	}
	if h != src.Height {
		cur = resampleVertical(cur, h)
	}
	if cur == src {
		return src.Clone()
	}
	return cur
}

func resampleHorizontal(src *Image, w int) *Image {
	t := precomputeBicubic(src.Width, w)
	out := NewImage(w, src.Height)
	for y := 0; y < src.Height; y++ {
		in := src.Pix[y*src.Width*3 : (y+1)*src.Width*3]
		o := out.Pix[y*w*3 : (y+1)*w*3]
		for xx := 0; xx < w; xx++ {
			k := t.weights[xx*t.ksize : xx*t.ksize+t.count[xx]]
			px := in[t.first[xx]*3:]
			s0, s1, s2 := int32(1<<(resamplePrecision-1)), int32(1<<(resamplePrecision-1)), int32(1<<(resamplePrecision-1))
			for x, kx := range k {
				s0 += int32(px[3*x]) * kx
				s1 += int32(px[3*x+1]) * kx
				s2 += int32(px[3*x+2]) * kx
			}
			o[3*xx], o[3*xx+1], o[3*xx+2] = clip8(s0), clip8(s1), clip8(s2)
		}
	}
	return out
}

func resampleVertical(src *Image, h int) *Image {
	t := precomputeBicubic(src.Height, h)
	stride := src.Width * 3
	out := NewImage(src.Width, h)
	// Integer sums are exact, so accumulating a whole row at a time (cache
	// friendly) gives the same bytes as PIL's per-pixel loop.
	acc := make([]int32, stride)
	for yy := 0; yy < h; yy++ {
		for i := range acc {
			acc[i] = 1 << (resamplePrecision - 1)
		}
		k := t.weights[yy*t.ksize : yy*t.ksize+t.count[yy]]
		for y, ky := range k {
			row := src.Pix[(t.first[yy]+y)*stride : (t.first[yy]+y+1)*stride]
			for i, v := range row {
				acc[i] += int32(v) * ky
			}
		}
		o := out.Pix[yy*stride : (yy+1)*stride]
		for i, s := range acc {
			o[i] = clip8(s)
		}
	}
	return out
}

// ResizeShorterSide scales src so that its shorter side is size, keeping the
// aspect ratio, as torchvision's Resize(size) does: the longer side becomes
// int(size*long/short) (truncated), and an image already at that size is
// returned unchanged (a copy).
func ResizeShorterSide(src *Image, size int) *Image {
	w, h := src.Width, src.Height
	short, long := w, h
	if h < w {
		short, long = h, w
	}
	newLong := int(float64(size*long) / float64(short))
	nw, nh := size, newLong
	if w > h {
		nw, nh = newLong, size
	}
	if nw == w && nh == h {
		return src.Clone()
	}
	return ResizeBicubic(src, nw, nh)
}

// CenterCrop cuts the central w×h window, with torchvision's offsets
// int(round((H-h)/2)) and int(round((W-w)/2)); Python's round goes half to
// even, so a 1-pixel surplus is cut from the right/bottom and a 3-pixel one
// 2 from the left/top. The crop must fit inside src.
func CenterCrop(src *Image, w, h int) *Image {
	if w > src.Width || h > src.Height {
		panic(fmt.Sprintf("data: centre crop %dx%d of a %dx%d image", w, h, src.Width, src.Height))
	}
	top := int(math.RoundToEven(float64(src.Height-h) / 2))
	left := int(math.RoundToEven(float64(src.Width-w) / 2))
	out := NewImage(w, h)
	for y := 0; y < h; y++ {
		copy(out.Pix[y*w*3:(y+1)*w*3], src.Pix[((top+y)*src.Width+left)*3:])
	}
	return out
}

// ResizeMode says how a source image is brought to size×size before it is
// cached.
type ResizeMode uint8

const (
	// Squash is the train resize: Resize((size, size)), bicubic, ignoring
	// the aspect ratio (Dassl's train pipeline has no crop).
	Squash ResizeMode = 1
	// ShorterSideCrop is the test resize: shorter side to size, bicubic,
	// then the central size×size crop.
	ShorterSideCrop ResizeMode = 2
)

func (m ResizeMode) String() string {
	switch m {
	case Squash:
		return "squash"
	case ShorterSideCrop:
		return "shorter-side-crop"
	}
	return fmt.Sprintf("ResizeMode(%d)", uint8(m))
}

// Prepare applies the resize of mode to src, giving a size×size image.
func Prepare(src *Image, mode ResizeMode, size int) *Image {
	switch mode {
	case Squash:
		if src.Width == size && src.Height == size {
			return src.Clone()
		}
		return ResizeBicubic(src, size, size)
	case ShorterSideCrop:
		return CenterCrop(ResizeShorterSide(src, size), size, size)
	}
	panic(fmt.Sprintf("data: unknown resize mode %d", mode))
}

// CLIP's normalisation constants (Dassl's INPUT.PIXEL_MEAN / PIXEL_STD as set
// by the CoOp-family configs).
var (
	CLIPMean = [3]float32{0.48145466, 0.4578275, 0.40821073}
	CLIPStd  = [3]float32{0.26862954, 0.26130258, 0.27577711}
)

// normTable[c][v] is (v/255 - mean[c]) / std[c] in float32, computed in the
// same order as torchvision's ToTensor (x.float().div(255)) followed by
// Normalize (sub_(mean).div_(std)), so the values are bit-identical to
// PyTorch's.
var normTable = func() (t [3][256]float32) {
	for c := range 3 {
		for v := range 256 {
			x := float32(v) / 255
			t[c][v] = (x - CLIPMean[c]) / CLIPStd[c]
		}
	}
	return t
}()

// ToCHW writes img, normalised with the CLIP mean and std, into dst as a
// 3×H×W float32 tensor (channel-major); dst must hold 3*W*H values.
func ToCHW(img *Image, dst []float32) {
	n := img.Width * img.Height
	if len(dst) < 3*n {
		panic(fmt.Sprintf("data: ToCHW needs %d floats, got %d", 3*n, len(dst)))
	}
	r, g, b := dst[:n], dst[n:2*n], dst[2*n:3*n]
	p := img.Pix
	for i := 0; i < n; i++ {
		r[i] = normTable[0][p[3*i]]
		g[i] = normTable[1][p[3*i+1]]
		b[i] = normTable[2][p[3*i+2]]
	}
}

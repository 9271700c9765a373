// Package safetensors reads and writes the safetensors format: an 8-byte
// little-endian header length, a JSON header mapping each tensor name to its
// dtype, shape and byte range, an optional "__metadata__" string map, then the
// raw little-endian tensor bytes. Tensors are read as float32 whatever their
// stored dtype (F32, F16 or BF16); they are written as F32.
package safetensors

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"

	"github.com/fomo-grid/grid/internal/atomicfile"
)

// Tensor is a dense row-major float32 array. A scalar has an empty Shape and
// one element.
type Tensor struct {
	Shape []int
	Data  []float32
}

// Numel is the element count the shape implies.
func (t Tensor) Numel() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Info describes one stored tensor without loading it.
type Info struct {
	DType string // "F32", "F16", "BF16", or another safetensors dtype
	Shape []int
	// Begin and End are byte offsets into the data section.
	Begin, End int64
}

const (
	metadataKey = "__metadata__"
	// maxHeaderBytes bounds the JSON header so that a corrupt length field
	// cannot make the reader allocate gigabytes (the reference implementation
	// uses the same 100 MB limit).
	maxHeaderBytes = 100 << 20
)

// dtypeSize gives the byte width of every dtype the format defines; only F32,
// F16 and BF16 can be decoded, the others are recognised so that a file
// holding them can still be opened and its float tensors read.
var dtypeSize = map[string]int64{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
	"I16": 2, "U16": 2, "F16": 2, "BF16": 2,
	"I32": 4, "U32": 4, "F32": 4,
	"I64": 8, "U64": 8, "F64": 8,
}

// File is an open safetensors file whose header has been parsed and checked.
type File struct {
	path      string
	r         io.ReaderAt // the file's bytes
	c         io.Closer   // nil for a File over bytes (tests)
	dataStart int64
	infos     map[string]Info
	// Metadata is the "__metadata__" map; empty if the file has none.
	Metadata map[string]string
}

type headerEntry struct {
	DType       string  `json:"dtype"`
	Shape       []int   `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// Open reads and validates the header of path. Close the File when done.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	file, err := parseHeader(path, f, st.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	file.r, file.c = f, f
	return file, nil
}

// openBytes is Open of a file's content held in memory.
func openBytes(name string, b []byte) (*File, error) {
	file, err := parseHeader(name, bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, err
	}
	file.r = bytes.NewReader(b)
	return file, nil
}

func parseHeader(path string, r io.ReaderAt, size int64) (*File, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("safetensors: %s: "+format, append([]any{path}, args...)...)
	}
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fail("file of %d bytes is too short to hold the 8-byte header length", size)
	}
	headerLen := binary.LittleEndian.Uint64(lenBuf[:])
	if headerLen > maxHeaderBytes || int64(headerLen) > size-8 {
		return nil, fail("header length %d does not fit in a file of %d bytes (truncated or not a safetensors file)", headerLen, size)
	}
	header := make([]byte, headerLen)
	if _, err := r.ReadAt(header, 8); err != nil {
		return nil, fail("reading the header: %v", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(header, &raw); err != nil {
		return nil, fail("header is not a JSON object: %v", err)
	}
	file := &File{path: path, dataStart: 8 + int64(headerLen), infos: map[string]Info{}, Metadata: map[string]string{}}
	dataLen := size - file.dataStart
	for name, msg := range raw {
		if name == metadataKey {
			if err := json.Unmarshal(msg, &file.Metadata); err != nil {
				return nil, fail("%q is not a map of strings to strings: %v", metadataKey, err)
			}
			continue
		}
		var e headerEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fail("tensor %q: bad header entry: %v", name, err)
		}
		width, ok := dtypeSize[e.DType]
		if !ok {
			return nil, fail("tensor %q: unknown dtype %q", name, e.DType)
		}
		if len(e.DataOffsets) != 2 {
			return nil, fail("tensor %q: data_offsets has %d numbers, want 2", name, len(e.DataOffsets))
		}
		numel, err := elementCount(e.Shape, math.MaxInt64/width)
		if err != nil {
			return nil, fail("tensor %q: %v", name, err)
		}
		begin, end := e.DataOffsets[0], e.DataOffsets[1]
		if begin < 0 || end < begin || end > dataLen {
			return nil, fail("tensor %q: byte range [%d,%d) lies outside the %d data bytes (truncated file?)", name, begin, end, dataLen)
		}
		if end-begin != numel*width {
			return nil, fail("tensor %q: %d bytes stored, but %s %v needs %d", name, end-begin, e.DType, e.Shape, numel*width)
		}
		file.infos[name] = Info{DType: e.DType, Shape: e.Shape, Begin: begin, End: end}
	}
	if err := checkNoOverlap(file.infos); err != nil {
		return nil, fail("%v", err)
	}
	return file, nil
}

// elementCount is the product of shape's dimensions. It refuses negative
// dimensions, and shapes whose dimensions (zeros aside) multiply past limit:
// such a product wraps around in 64 bits and could match a short byte range
// (found by review of FuzzRead; testdata/fuzz/FuzzRead/shape-overflow).
func elementCount(shape []int, limit int64) (int64, error) {
	numel, nonzero := int64(1), int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		if d > 0 && nonzero > limit/int64(d) {
			return 0, fmt.Errorf("shape %v has more elements than a file can hold", shape)
		}
		if d > 0 {
			nonzero *= int64(d)
		}
		numel *= int64(d)
	}
	return numel, nil
}

// checkNoOverlap rejects headers whose byte ranges share bytes, which would
// let one tensor's data be read as another's.
func checkNoOverlap(infos map[string]Info) error {
	names := make([]string, 0, len(infos))
	for n, info := range infos {
		if info.End > info.Begin {
			names = append(names, n)
		}
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(infos[a].Begin, infos[b].Begin) })
	for i := 1; i < len(names); i++ {
		if infos[names[i]].Begin < infos[names[i-1]].End {
			return fmt.Errorf("tensors %q and %q overlap", names[i-1], names[i])
		}
	}
	return nil
}

// Path is the file's path as given to Open.
func (f *File) Path() string { return f.path }

// Names lists the stored tensors, sorted.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.infos))
	for n := range f.infos {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Info describes the named tensor; ok is false if there is none.
func (f *File) Info(name string) (info Info, ok bool) {
	info, ok = f.infos[name]
	return info, ok
}

// Tensor reads the named tensor, converting it to float32.
func (f *File) Tensor(name string) (Tensor, error) {
	info, ok := f.infos[name]
	if !ok {
		return Tensor{}, fmt.Errorf("safetensors: %s: no tensor %q", f.path, name)
	}
	raw := make([]byte, info.End-info.Begin)
	// An empty tensor reads nothing: some readers report EOF for a
	// zero-length read at the end of the data (found by FuzzRead).
	if len(raw) == 0 {
		return Tensor{Shape: slices.Clone(info.Shape), Data: []float32{}}, nil
	}
	if _, err := f.r.ReadAt(raw, f.dataStart+info.Begin); err != nil {
		return Tensor{}, fmt.Errorf("safetensors: %s: tensor %q: %v", f.path, name, err)
	}
	data, err := decode(raw, info.DType)
	if err != nil {
		return Tensor{}, fmt.Errorf("safetensors: %s: tensor %q: %v", f.path, name, err)
	}
	return Tensor{Shape: slices.Clone(info.Shape), Data: data}, nil
}

// Close closes the underlying file.
func (f *File) Close() error {
	if f.c == nil {
		return nil
	}
	return f.c.Close()
}

// Read loads every tensor of path as float32, with the file's metadata.
func Read(path string) (map[string]Tensor, map[string]string, error) {
	f, err := Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	tensors := make(map[string]Tensor, len(f.infos))
	for _, name := range f.Names() {
		t, err := f.Tensor(name)
		if err != nil {
			return nil, nil, err
		}
		tensors[name] = t
	}
	return tensors, f.Metadata, nil
}

func decode(raw []byte, dtype string) ([]float32, error) {
	switch dtype {
	case "F32":
		out := make([]float32, len(raw)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return out, nil
	case "F16":
		out := make([]float32, len(raw)/2)
		for i := range out {
			out[i] = Float16ToFloat32(binary.LittleEndian.Uint16(raw[2*i:]))
		}
		return out, nil
	case "BF16":
		out := make([]float32, len(raw)/2)
		for i := range out {
			out[i] = BFloat16ToFloat32(binary.LittleEndian.Uint16(raw[2*i:]))
		}
		return out, nil
	}
	return nil, fmt.Errorf("dtype %s cannot be read as float32 (only F32, F16, BF16)", dtype)
}

// BFloat16ToFloat32 widens a bfloat16 bit pattern: bfloat16 is the upper half
// of a float32.
func BFloat16ToFloat32(bits uint16) float32 {
	return math.Float32frombits(uint32(bits) << 16)
}

// Float16ToFloat32 widens an IEEE 754 half-precision bit pattern exactly,
// including subnormals, infinities and NaN.
func Float16ToFloat32(bits uint16) float32 {
	sign := uint32(bits>>15) << 31
	exp := uint32(bits>>10) & 0x1f
	frac := uint32(bits) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN: keep the payload.
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp != 0: // normal: rebias 15 → 127.
		return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
	case frac == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal half: frac·2⁻²⁴, exactly representable as a normal float32.
	v := float32(frac) * (1.0 / (1 << 24))
	if sign != 0 {
		v = -v
	}
	return v
}

// Write stores tensors as F32 (sorted by name, contiguous) with the given
// metadata (nil for none), mode 0644, atomically (atomicfile): readers see
// either the old file or the complete new one.
func Write(path string, tensors map[string]Tensor, metadata map[string]string) error {
	headerJSON, names, err := encodeHeader(path, tensors, metadata)
	if err != nil {
		return err
	}
	err = atomicfile.Write(path, 0o644, func(w io.Writer) error {
		return writeBody(w, headerJSON, names, tensors)
	})
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}

// encodeHeader checks the tensors and returns the header (padded) and the
// tensor names in the order their data follows it.
func encodeHeader(path string, tensors map[string]Tensor, metadata map[string]string) ([]byte, []string, error) {
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		if n == metadataKey {
			return nil, nil, fmt.Errorf("safetensors: %s: %q is reserved and cannot name a tensor", path, n)
		}
		names = append(names, n)
	}
	slices.Sort(names)
	header := make(map[string]any, len(tensors)+1)
	if len(metadata) > 0 {
		header[metadataKey] = metadata
	}
	var offset int64
	for _, n := range names {
		t := tensors[n]
		for _, d := range t.Shape {
			if d < 0 {
				return nil, nil, fmt.Errorf("safetensors: %s: tensor %q: negative dimension in shape %v", path, n, t.Shape)
			}
		}
		if t.Numel() != len(t.Data) {
			return nil, nil, fmt.Errorf("safetensors: %s: tensor %q: shape %v needs %d values, have %d", path, n, t.Shape, t.Numel(), len(t.Data))
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{} // a scalar is written as "shape": [], never null
		}
		size := 4 * int64(len(t.Data))
		header[n] = headerEntry{DType: "F32", Shape: shape, DataOffsets: []int64{offset, offset + size}}
		offset += size
	}
	headerJSON, err := json.Marshal(header)
	if err != nil {
		return nil, nil, fmt.Errorf("safetensors: %s: %v", path, err)
	}
	// Pad the header with spaces so the data starts 8-byte aligned, as the
	// reference writer does.
	for (8+len(headerJSON))%8 != 0 {
		headerJSON = append(headerJSON, ' ')
	}
	return headerJSON, names, nil
}

// writeBody writes the header length, the header and the tensors' data.
func writeBody(w io.Writer, headerJSON []byte, names []string, tensors map[string]Tensor) error {
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(headerJSON)))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return err
	}
	if _, err := w.Write(headerJSON); err != nil {
		return err
	}
	var word [4]byte
	for _, n := range names {
		for _, v := range tensors[n].Data {
			binary.LittleEndian.PutUint32(word[:], math.Float32bits(v))
			if _, err := w.Write(word[:]); err != nil {
				return err
			}
		}
	}
	return nil
}

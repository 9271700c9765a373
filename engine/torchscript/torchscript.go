// Package torchscript reads the tensors of PyTorch's zip archives without
// PyTorch: the TorchScript modules torch.jit.save writes (OpenAI's CLIP
// checkpoints such as ViT-B-16.pt are these) and the state dicts, or other
// containers of tensors, torch.save writes (PyTorch ≥ 1.6).
//
// Both are zip files holding <name>/data.pkl, a pickle of the saved value in
// which each tensor refers by key to a storage whose raw little-endian bytes
// are the record <name>/data/<key>. In a TorchScript archive the value is
// the module object; its pickled state is a dict of its attributes
// (parameters, buffers, submodules, plain values), so walking the object
// tree yields the dotted names of the module's state_dict, e.g.
// visual.transformer.resblocks.0.attn.in_proj_weight. The code/ and
// constants.pkl records are not read.
package torchscript

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/fomo-grid/grid/engine/pickle"
	"github.com/fomo-grid/grid/engine/safetensors"
)

// Read loads every tensor the archive at path holds, by dotted name, as
// dense row-major float32 (fp16, bf16 and fp64 are converted exactly or
// rounded to nearest; integer and bool tensors become their values as
// float32). Tensors that are views of a storage honour its offset and
// strides; non-contiguous views are copied out element by element.
// Non-tensor values (ints, strings, None, training flags) are skipped.
// Every error names the file, and where one is at fault, the tensor.
func Read(path string) (map[string]safetensors.Tensor, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("torchscript: %s: "+format, append([]any{path}, args...)...)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("torchscript: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("torchscript: %w", err)
	}
	head := make([]byte, 512)
	n, _ := f.ReadAt(head, 0)
	if err := checkMagic(head[:n]); err != nil {
		return nil, fail("%v", err)
	}
	zr, err := zip.NewReader(f, st.Size())
	if err != nil {
		return nil, fail("not a readable zip archive: %v", err)
	}
	tensors, err := readArchive(zr)
	if err != nil {
		return nil, fail("%v", err)
	}
	return tensors, nil
}

// checkMagic tells the formats apart that a .pt file may hold, so that the
// two older torch.save formats get an error that says what to do.
func checkMagic(head []byte) error {
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return nil
	case len(head) >= 2 && head[0] == 0x80 && head[1] <= 5:
		return fmt.Errorf("legacy torch.save format (a bare pickle, PyTorch < 1.6), not a zip archive: " +
			"load it with PyTorch and save it again with a current torch.save")
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return fmt.Errorf("tar-based torch.save format (PyTorch < 0.4): load it with PyTorch and save it again with a current torch.save")
	}
	return fmt.Errorf("not a PyTorch zip archive (no zip signature at the start)")
}

// readArchive finds the single <name>/data.pkl record, unpickles it and
// materialises every tensor it reaches.
func readArchive(zr *zip.Reader) (map[string]safetensors.Tensor, error) {
	records := make(map[string]*zip.File, len(zr.File))
	var pickles []string
	for _, zf := range zr.File {
		records[zf.Name] = zf
		if zf.Name == "data.pkl" || strings.HasSuffix(zf.Name, "/data.pkl") && strings.Count(zf.Name, "/") == 1 {
			pickles = append(pickles, zf.Name)
		}
	}
	switch len(pickles) {
	case 0:
		return nil, fmt.Errorf("zip archive has no <name>/data.pkl record: not saved by torch.save or torch.jit.save")
	case 1:
	default:
		return nil, fmt.Errorf("zip archive has %d data.pkl records (%s): cannot tell which to read", len(pickles), strings.Join(pickles, ", "))
	}
	prefix := strings.TrimSuffix(pickles[0], "data.pkl")
	if zf, ok := records[prefix+"byteorder"]; ok {
		b, err := readRecord(zf)
		if err != nil {
			return nil, err
		}
		if order := strings.TrimSpace(string(b)); order != "little" {
			return nil, fmt.Errorf("record %s says the tensors are %q-endian; only little-endian archives are supported", zf.Name, order)
		}
	}
	pkl, err := readRecord(records[pickles[0]])
	if err != nil {
		return nil, err
	}
	storages := map[string]*storage{}
	root, err := unpickle(pkl, func(pid any) (any, error) { return loadStorage(storages, pid) })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pickles[0], err)
	}
	named, err := collect(root)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pickles[0], err)
	}
	if len(named) == 0 {
		return nil, fmt.Errorf("%s holds no tensors (its top-level value is a %s)", pickles[0], describe(root))
	}
	return materialise(named, records, prefix)
}

func readRecord(zf *zip.File) ([]byte, error) {
	rc, err := zf.Open()
	if err != nil {
		return nil, fmt.Errorf("record %s: %v", zf.Name, err)
	}
	defer rc.Close()
	if zf.UncompressedSize64 > 1<<40 {
		return nil, fmt.Errorf("record %s claims %d bytes (corrupt archive)", zf.Name, zf.UncompressedSize64)
	}
	b := make([]byte, zf.UncompressedSize64)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("record %s: %v (truncated or corrupt archive)", zf.Name, err)
	}
	return b, nil
}

// loadStorage answers a persistent id ('storage', torch.<Type>Storage, key,
// location, numel). Tensors that share a key share the storage.
func loadStorage(storages map[string]*storage, pid any) (any, error) {
	t, ok := pid.(pickle.Tuple)
	if !ok || len(t) < 5 || t[0] != "storage" {
		return nil, fmt.Errorf("persistent id %s is not ('storage', type, key, location, numel)", describe(pid))
	}
	g, ok := t[1].(pickle.Global)
	if !ok || !strings.HasSuffix(g.Name, "Storage") {
		return nil, fmt.Errorf("persistent id names storage type %s, not a torch.<Type>Storage", describe(t[1]))
	}
	key, ok := t[2].(string)
	if !ok {
		return nil, fmt.Errorf("persistent id has storage key %s, not a string", describe(t[2]))
	}
	numel, ok := t[4].(int64)
	if !ok || numel < 0 {
		return nil, fmt.Errorf("storage %s: element count %v is not a non-negative integer", key, t[4])
	}
	dtype := strings.TrimSuffix(g.Name, "Storage")
	if s, ok := storages[key]; ok {
		if s.dtype != dtype {
			return nil, fmt.Errorf("storage %s is used both as %sStorage and as %sStorage", key, s.dtype, dtype)
		}
		return s, nil
	}
	s := &storage{dtype: dtype, key: key, numel: numel}
	storages[key] = s
	return s, nil
}

type namedTensor struct {
	name string
	ref  *tensorRef
}

// collect walks the unpickled value and names every tensor it reaches:
// dict keys and object attributes join with dots, list and tuple items by
// index. A state dict's keys therefore come out unchanged, and a module's
// attributes come out as its state_dict names.
func collect(root any) ([]namedTensor, error) {
	var out []namedTensor
	seen := map[any]bool{}
	names := map[string]bool{}
	join := func(prefix, key string) string {
		if prefix == "" {
			return key
		}
		return prefix + "." + key
	}
	var walk func(v any, name string) error
	walk = func(v any, name string) error {
		switch v := v.(type) {
		case *tensorRef:
			if names[name] {
				return fmt.Errorf("two tensors are named %q", name)
			}
			names[name] = true
			out = append(out, namedTensor{name, v})
			return nil
		case *pickle.Object, *pickle.Dict, *pickle.List:
			if seen[v] { // a shared or cyclic reference: name its tensors once
				return nil
			}
			seen[v] = true
		}
		switch v := v.(type) {
		case *pickle.Object:
			return walk(v.State, name)
		case *pickle.Dict:
			for i, k := range v.Keys {
				var key string
				switch k := k.(type) {
				case string:
					key = k
				case int64:
					key = strconv.FormatInt(k, 10)
				default:
					continue
				}
				if err := walk(v.Values[i], join(name, key)); err != nil {
					return err
				}
			}
		case *pickle.List:
			for i, it := range v.Items {
				if err := walk(it, join(name, strconv.Itoa(i))); err != nil {
					return err
				}
			}
		case pickle.Tuple:
			for i, it := range v {
				if err := walk(it, join(name, strconv.Itoa(i))); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(root, ""); err != nil {
		return nil, err
	}
	return out, nil
}

// elementType decodes one element of a storage type to float32.
type elementType struct {
	size   int64
	decode func(b []byte) float32
}

var elementTypes = map[string]elementType{
	"Float":    {4, func(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }},
	"Half":     {2, func(b []byte) float32 { return safetensors.Float16ToFloat32(binary.LittleEndian.Uint16(b)) }},
	"BFloat16": {2, func(b []byte) float32 { return safetensors.BFloat16ToFloat32(binary.LittleEndian.Uint16(b)) }},
	"Double":   {8, func(b []byte) float32 { return float32(math.Float64frombits(binary.LittleEndian.Uint64(b))) }},
	"Long":     {8, func(b []byte) float32 { return float32(int64(binary.LittleEndian.Uint64(b))) }},
	"Int":      {4, func(b []byte) float32 { return float32(int32(binary.LittleEndian.Uint32(b))) }},
	"Short":    {2, func(b []byte) float32 { return float32(int16(binary.LittleEndian.Uint16(b))) }},
	"Char":     {1, func(b []byte) float32 { return float32(int8(b[0])) }},
	"Byte":     {1, func(b []byte) float32 { return float32(b[0]) }},
	"Bool": {1, func(b []byte) float32 {
		if b[0] != 0 {
			return 1
		}
		return 0
	}},
}

// materialise reads each storage record once and copies out the views of
// the tensors that use it.
func materialise(named []namedTensor, records map[string]*zip.File, prefix string) (map[string]safetensors.Tensor, error) {
	byStorage := map[string][]namedTensor{}
	var keys []string
	for _, nt := range named {
		k := nt.ref.storage.key
		if _, ok := byStorage[k]; !ok {
			keys = append(keys, k)
		}
		byStorage[k] = append(byStorage[k], nt)
	}
	slices.Sort(keys)
	out := make(map[string]safetensors.Tensor, len(named))
	for _, key := range keys {
		users := byStorage[key]
		st := users[0].ref.storage
		et, ok := elementTypes[st.dtype]
		if !ok {
			return nil, fmt.Errorf("tensor %q: unsupported storage type %sStorage (floating point, integer and bool storages are read)", users[0].name, st.dtype)
		}
		zf, ok := records[prefix+"data/"+key]
		if !ok {
			return nil, fmt.Errorf("tensor %q: storage record %sdata/%s is missing", users[0].name, prefix, key)
		}
		raw, err := readRecord(zf)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", users[0].name, err)
		}
		available := int64(len(raw)) / et.size
		for _, nt := range users {
			t, err := view(nt.ref, raw, available, et)
			if err != nil {
				return nil, fmt.Errorf("tensor %q: %w", nt.name, err)
			}
			out[nt.name] = t
		}
	}
	return out, nil
}

// maxElements bounds one tensor (32 GiB as float32) so that a corrupt size
// cannot overflow or exhaust memory.
const maxElements = 1 << 33

// view copies a tensor's elements out of its storage's bytes in row-major
// order, after checking that every index it can touch lies in the storage.
func view(ref *tensorRef, raw []byte, available int64, et elementType) (safetensors.Tensor, error) {
	if len(ref.size) != len(ref.stride) {
		return safetensors.Tensor{}, fmt.Errorf("size %v and stride %v have different ranks", ref.size, ref.stride)
	}
	if ref.offset < 0 {
		return safetensors.Tensor{}, fmt.Errorf("negative storage offset %d", ref.offset)
	}
	shape := make([]int, len(ref.size))
	numel, last := int64(1), ref.offset
	for i, d := range ref.size {
		if d < 0 || ref.stride[i] < 0 {
			return safetensors.Tensor{}, fmt.Errorf("size %v with stride %v: negative entries", ref.size, ref.stride)
		}
		shape[i] = int(d)
		if d > 0 && numel > maxElements/d {
			return safetensors.Tensor{}, fmt.Errorf("size %v has more than %d elements (corrupt archive?)", ref.size, int64(maxElements))
		}
		numel *= d
		if d > 0 {
			last += (d - 1) * ref.stride[i]
		}
	}
	data := make([]float32, numel)
	if numel == 0 {
		return safetensors.Tensor{Shape: shape, Data: data}, nil
	}
	if last >= available {
		return safetensors.Tensor{}, fmt.Errorf("view (offset %d, size %v, stride %v) reaches element %d, but its storage record holds %d elements (truncated archive?)",
			ref.offset, ref.size, ref.stride, last, available)
	}
	if contiguous(ref.size, ref.stride) {
		base := ref.offset * et.size
		for i := range data {
			data[i] = et.decode(raw[base+int64(i)*et.size:])
		}
		return safetensors.Tensor{Shape: shape, Data: data}, nil
	}
	// Strided gather: idx counts in row-major order, pos follows the strides.
	idx := make([]int64, len(ref.size))
	pos := ref.offset
	for i := range data {
		data[i] = et.decode(raw[pos*et.size:])
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			pos += ref.stride[d]
			if idx[d] < ref.size[d] {
				break
			}
			pos -= idx[d] * ref.stride[d]
			idx[d] = 0
		}
	}
	return safetensors.Tensor{Shape: shape, Data: data}, nil
}

// contiguous reports whether strides are the row-major ones for size
// (dimensions of extent 1 may have any stride).
func contiguous(size, stride []int64) bool {
	want := int64(1)
	for d := len(size) - 1; d >= 0; d-- {
		if size[d] != 1 && stride[d] != want {
			return false
		}
		want *= size[d]
	}
	return true
}

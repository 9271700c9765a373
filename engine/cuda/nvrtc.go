package cuda

import (
	"fmt"
	"runtime"
	"sort"
	"unsafe"
)

// nvrtc holds the NVRTC functions grid calls. An nvrtcProgram is an opaque
// pointer kept as uintptr.
type nvrtc struct {
	lib          *openedLibrary
	major, minor int
	archs        []int // the real architectures it compiles for (sm_XY -> 10X+Y)

	nvrtcVersion, nvrtcGetNumSupportedArchs, nvrtcGetSupportedArchs uintptr
	nvrtcCreateProgram, nvrtcCompileProgram, nvrtcDestroyProgram    uintptr
	nvrtcGetProgramLogSize, nvrtcGetProgramLog                      uintptr
	nvrtcGetCUBINSize, nvrtcGetCUBIN, nvrtcGetPTXSize, nvrtcGetPTX  uintptr
}

const nvrtcErrorCompilation = 6

// nvrtcStatusNames are nvrtcResult's names (nvrtc.h), so that messages need
// no call back into the library.
var nvrtcStatusNames = map[int]string{
	1: "NVRTC_ERROR_OUT_OF_MEMORY", 2: "NVRTC_ERROR_PROGRAM_CREATION_FAILURE",
	3: "NVRTC_ERROR_INVALID_INPUT", 4: "NVRTC_ERROR_INVALID_PROGRAM", 5: "NVRTC_ERROR_INVALID_OPTION",
	6: "NVRTC_ERROR_COMPILATION", 7: "NVRTC_ERROR_BUILTIN_OPERATION_FAILURE",
	8: "NVRTC_ERROR_NO_NAME_EXPRESSIONS_AFTER_COMPILATION", 9: "NVRTC_ERROR_NO_LOWERED_NAMES_BEFORE_COMPILATION",
	10: "NVRTC_ERROR_NAME_EXPRESSION_NOT_VALID", 11: "NVRTC_ERROR_INTERNAL_ERROR",
}

func loadNVRTC(sp SearchPath) (*nvrtc, error) {
	lib, err := sp.open(nvrtcLibrary)
	if err != nil {
		return nil, err
	}
	n := &nvrtc{lib: lib}
	if err := lib.bind(n.symbols()); err != nil {
		return nil, err
	}
	var major, minor int32
	if err := n.check("nvrtcVersion", call(n.nvrtcVersion, uintptr(unsafe.Pointer(&major)), uintptr(unsafe.Pointer(&minor)))); err != nil {
		return nil, err
	}
	n.major, n.minor = int(major), int(minor)
	if n.major < 12 {
		return nil, &VersionError{What: fmt.Sprintf("NVRTC (%s)", lib.path), Have: n.Version(), Need: "NVRTC 12.0 or newer"}
	}
	var count int32
	if err := n.check("nvrtcGetNumSupportedArchs", call(n.nvrtcGetNumSupportedArchs, uintptr(unsafe.Pointer(&count)))); err != nil {
		return nil, err
	}
	if count > 0 {
		archs := make([]int32, count)
		if err := n.check("nvrtcGetSupportedArchs", call(n.nvrtcGetSupportedArchs, uintptr(unsafe.Pointer(&archs[0])))); err != nil {
			return nil, err
		}
		for _, a := range archs {
			n.archs = append(n.archs, int(a))
		}
		sort.Ints(n.archs)
	}
	return n, nil
}

func (n *nvrtc) symbols() []symbol {
	return []symbol{
		{"nvrtcVersion", &n.nvrtcVersion},
		{"nvrtcGetNumSupportedArchs", &n.nvrtcGetNumSupportedArchs}, {"nvrtcGetSupportedArchs", &n.nvrtcGetSupportedArchs},
		{"nvrtcCreateProgram", &n.nvrtcCreateProgram}, {"nvrtcCompileProgram", &n.nvrtcCompileProgram},
		{"nvrtcDestroyProgram", &n.nvrtcDestroyProgram},
		{"nvrtcGetProgramLogSize", &n.nvrtcGetProgramLogSize}, {"nvrtcGetProgramLog", &n.nvrtcGetProgramLog},
		{"nvrtcGetCUBINSize", &n.nvrtcGetCUBINSize}, {"nvrtcGetCUBIN", &n.nvrtcGetCUBIN},
		{"nvrtcGetPTXSize", &n.nvrtcGetPTXSize}, {"nvrtcGetPTX", &n.nvrtcGetPTX},
	}
}

// Version is "major.minor".
func (n *nvrtc) Version() string { return fmt.Sprintf("%d.%d", n.major, n.minor) }

func (n *nvrtc) check(fn string, status int) error {
	if status == 0 {
		return nil
	}
	name, ok := nvrtcStatusNames[status]
	if !ok {
		name = fmt.Sprintf("nvrtcResult %d", status)
	}
	return &LibraryCallError{Call: fn, Status: status, Name: name}
}

// target is what NVRTC is asked to produce for a device: a cubin for its
// own architecture when NVRTC knows it, else PTX for the newest
// architecture NVRTC knows, which the driver compiles on load.
type target struct {
	arch int  // 10·major + minor
	ptx  bool // PTX for compute_<arch> instead of a cubin for sm_<arch>
}

func (t target) option() string {
	if t.ptx {
		return fmt.Sprintf("--gpu-architecture=compute_%d", t.arch)
	}
	return fmt.Sprintf("--gpu-architecture=sm_%d", t.arch)
}

func (t target) String() string {
	if t.ptx {
		return fmt.Sprintf("compute_%d (PTX)", t.arch)
	}
	return fmt.Sprintf("sm_%d", t.arch)
}

// targetFor picks the target for a device of compute capability arch.
func (n *nvrtc) targetFor(arch int) (target, error) {
	if len(n.archs) == 0 {
		return target{arch: arch}, nil
	}
	best := -1
	for _, a := range n.archs {
		if a == arch {
			return target{arch: arch}, nil
		}
		if a < arch {
			best = a
		}
	}
	if best < 0 {
		return target{}, &VersionError{
			What: fmt.Sprintf("NVRTC %s (%s)", n.Version(), n.lib.path),
			Have: fmt.Sprintf("%s, which compiles for sm_%d..sm_%d", n.Version(), n.archs[0], n.archs[len(n.archs)-1]),
			Need: fmt.Sprintf("an NVRTC that supports this GPU (sm_%d)", arch),
		}
	}
	return target{arch: best, ptx: true}, nil
}

// compile runs NVRTC on one source and returns the cubin (or PTX).
func (n *nvrtc) compile(name, src string, t target, options []string) ([]byte, error) {
	var prog uintptr
	if err := n.check("nvrtcCreateProgram", call(n.nvrtcCreateProgram, uintptr(unsafe.Pointer(&prog)),
		uintptr(unsafe.Pointer(cString(src))), uintptr(unsafe.Pointer(cString(name))), 0, 0, 0)); err != nil {
		return nil, err
	}
	defer call(n.nvrtcDestroyProgram, uintptr(unsafe.Pointer(&prog)))

	opts := append([]string{t.option()}, options...)
	ptrs := make([]*byte, len(opts))
	var pin runtime.Pinner
	defer pin.Unpin()
	for i, o := range opts {
		ptrs[i] = cString(o)
		pin.Pin(ptrs[i])
	}
	status := call(n.nvrtcCompileProgram, prog, uintptr(len(ptrs)), uintptr(unsafe.Pointer(&ptrs[0])))
	if status == nvrtcErrorCompilation {
		return nil, &CompileError{Source: name, Arch: t.String(), Log: n.log(prog)}
	}
	if err := n.check("nvrtcCompileProgram", status); err != nil {
		return nil, err
	}
	sizeFn, getFn, what := n.nvrtcGetCUBINSize, n.nvrtcGetCUBIN, "nvrtcGetCUBIN"
	if t.ptx {
		sizeFn, getFn, what = n.nvrtcGetPTXSize, n.nvrtcGetPTX, "nvrtcGetPTX"
	}
	var size uint64
	if err := n.check(what+"Size", call(sizeFn, prog, uintptr(unsafe.Pointer(&size)))); err != nil {
		return nil, err
	}
	if size == 0 {
		return nil, &LibraryCallError{Call: what + "Size", Name: "empty output"}
	}
	image := make([]byte, size)
	if err := n.check(what, call(getFn, prog, uintptr(unsafe.Pointer(&image[0])))); err != nil {
		return nil, err
	}
	return image, nil
}

// log is the compilation log of a program.
func (n *nvrtc) log(prog uintptr) string {
	var size uint64
	if call(n.nvrtcGetProgramLogSize, prog, uintptr(unsafe.Pointer(&size))) != 0 || size == 0 {
		return "(no log)"
	}
	buf := make([]byte, size)
	if call(n.nvrtcGetProgramLog, prog, uintptr(unsafe.Pointer(&buf[0]))) != 0 {
		return "(no log)"
	}
	for len(buf) > 0 && buf[len(buf)-1] == 0 {
		buf = buf[:len(buf)-1]
	}
	return string(buf)
}

package cuda

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ebitengine/purego"
)

// EnvLibPath names directories (separated by ':') searched first for the
// CUDA libraries, e.g. a CUDA toolkit's lib64 or a PyTorch wheel's
// nvidia/*/lib.
const EnvLibPath = "GRID_CUDA_LIB_PATH"

// library describes one shared library grid opens at run time.
type library struct {
	what string // what it is, for messages: "NVRTC (the CUDA runtime compiler)"
	// names are the file names to look for, most preferred first. A name
	// ending in '*' is a glob, tried only inside search directories (PyTorch
	// wheels ship NVRTC as libnvrtc-<hash>.so.12).
	names []string
	// wellKnown lists whether the library is looked for in the usual
	// toolkit and wheel directories when the dynamic linker does not find
	// it. The driver is not: libcuda.so.1 comes with the kernel driver and a
	// toolkit holds only a stub of it.
	wellKnown bool
}

var (
	driverLibrary = library{
		what:  "the CUDA driver (libcuda, installed with the NVIDIA kernel driver)",
		names: []string{"libcuda.so.1", "libcuda.so"},
	}
	nvrtcLibrary = library{
		what:      "NVRTC (the CUDA runtime compiler)",
		names:     []string{"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so", "libnvrtc-*.so.13", "libnvrtc-*.so.12"},
		wellKnown: true,
	}
	cublasLtLibrary = library{
		what:      "cuBLASLt",
		names:     []string{"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so", "libcublasLt-*.so.13", "libcublasLt-*.so.12"},
		wellKnown: true,
	}
)

// SearchPath says where the libraries are looked for.
type SearchPath struct {
	// Dirs are searched first, in order.
	Dirs []string
	// System also asks the dynamic linker (LD_LIBRARY_PATH, ld.so.cache) and,
	// for NVRTC and cuBLASLt, the usual CUDA toolkit and Python wheel
	// directories.
	System bool
}

// DefaultSearchPath is $GRID_CUDA_LIB_PATH, then the system's.
func DefaultSearchPath() SearchPath {
	var dirs []string
	for _, d := range filepath.SplitList(os.Getenv(EnvLibPath)) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	return SearchPath{Dirs: dirs, System: true}
}

// wellKnownDirs are where CUDA toolkits and the nvidia-* Python wheels (as
// PyTorch installs them) keep NVRTC and cuBLASLt.
func wellKnownDirs() []string {
	var dirs []string
	for _, env := range []string{"CUDA_HOME", "CUDA_PATH"} {
		if v := os.Getenv(env); v != "" {
			dirs = append(dirs, filepath.Join(v, "lib64"), filepath.Join(v, "lib"))
		}
	}
	dirs = append(dirs, "/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib")
	patterns := []string{
		"/usr/local/cuda-*/lib64",
		"/usr/local/lib/python3*/dist-packages/nvidia/*/lib",
		"/usr/lib/python3/dist-packages/nvidia/*/lib",
		"/usr/local/lib/python3*/site-packages/nvidia/*/lib",
		"/opt/conda/lib/python3*/site-packages/nvidia/*/lib",
	}
	if v := os.Getenv("VIRTUAL_ENV"); v != "" {
		patterns = append(patterns, filepath.Join(v, "lib/python3*/site-packages/nvidia/*/lib"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		patterns = append(patterns, filepath.Join(home, ".local/lib/python3*/site-packages/nvidia/*/lib"))
	}
	for _, p := range patterns {
		matches, _ := filepath.Glob(p)
		// Newest versions first: cuda-13.0 before cuda-12.4.
		sort.Sort(sort.Reverse(sort.StringSlice(matches)))
		dirs = append(dirs, matches...)
	}
	return dirs
}

// openedLibrary is a library dlopen'ed, with where it came from.
type openedLibrary struct {
	library
	path   string
	handle uintptr
}

// open finds and dlopens lib, or returns a *LibraryError listing every
// attempt.
func (sp SearchPath) open(lib library) (*openedLibrary, error) {
	var tried []string
	try := func(path string) *openedLibrary {
		h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_LOCAL)
		if err != nil {
			tried = append(tried, dlopenFailure(path, err))
			return nil
		}
		return &openedLibrary{library: lib, path: path, handle: h}
	}
	inDirs := func(dirs []string) *openedLibrary {
		for _, dir := range dirs {
			for _, name := range lib.names {
				for _, path := range expand(dir, name) {
					if l := try(path); l != nil {
						return l
					}
				}
			}
		}
		return nil
	}
	if l := inDirs(sp.Dirs); l != nil {
		return l, nil
	}
	if sp.System {
		for _, name := range lib.names {
			if strings.HasSuffix(name, "*") || strings.Contains(name, "*") {
				continue
			}
			if l := try(name); l != nil {
				return l, nil
			}
		}
		if lib.wellKnown {
			if l := inDirs(wellKnownDirs()); l != nil {
				return l, nil
			}
		}
	}
	return nil, &LibraryError{What: lib.what, Names: lib.names, Tried: tried, Dirs: sp.Dirs, System: sp.System}
}

// expand lists the files in dir matching name (a glob when it holds '*'),
// existing or not for a plain name, so that its dlopen error is reported.
func expand(dir, name string) []string {
	if !strings.Contains(name, "*") {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			return nil
		}
		return []string{p}
	}
	matches, _ := filepath.Glob(filepath.Join(dir, name))
	return matches
}

// dlopenFailure shortens a dlopen error for a list of attempts.
func dlopenFailure(path string, err error) string {
	msg := err.Error()
	var dl purego.Dlerror
	if errors.As(err, &dl) {
		msg = dl.Error()
	}
	if strings.Contains(msg, "cannot open shared object file: No such file or directory") && !strings.Contains(path, "/") {
		return path + ": not found by the dynamic linker"
	}
	return msg
}

// symbol binds one C function of a library to a Go variable.
type symbol struct {
	name string
	fn   *uintptr
}

// bind looks up every symbol, or fails naming the first missing one.
func (l *openedLibrary) bind(syms []symbol) error {
	for _, s := range syms {
		p, err := purego.Dlsym(l.handle, s.name)
		if err != nil || p == 0 {
			return &SymbolError{What: l.what, Path: l.path, Symbol: s.name}
		}
		*s.fn = p
	}
	return nil
}

// call invokes a C function taking integer and pointer arguments and
// returning an int status (CUresult, nvrtcResult, cublasStatus_t). Go
// pointers converted to uintptr in its argument list stay alive and in
// place for the call, as with syscall.Syscall.
//
//go:uintptrescapes
func call(fn uintptr, args ...uintptr) int {
	r, _, _ := purego.SyscallN(fn, args...)
	return int(int32(r))
}

package cuda

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnavailable is wrapped by every error that means "CUDA cannot be used
// on this machine" (a library, symbol, driver or device missing or too
// old), as opposed to a failure while using a GPU that works. errors.Is
// tells `auto` backend selection to fall back to the CPU.
var ErrUnavailable = errors.New("CUDA unavailable")

// LibraryError says a library could not be opened anywhere it was looked for.
type LibraryError struct {
	What   string   // what the library is
	Names  []string // file names looked for
	Tried  []string // each dlopen attempt that failed, with its reason
	Dirs   []string // the directories searched first
	System bool     // whether the system's search path was used too
}

func (e *LibraryError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cuda: cannot load %s: none of %s could be opened", e.What, strings.Join(e.Names, ", "))
	switch {
	case len(e.Dirs) > 0 && e.System:
		fmt.Fprintf(&b, " from %s or the system's library path", strings.Join(e.Dirs, ":"))
	case len(e.Dirs) > 0:
		fmt.Fprintf(&b, " from %s", strings.Join(e.Dirs, ":"))
	case e.System:
		b.WriteString(" from the system's library path")
	}
	if n := len(e.Tried); n > 0 {
		// The last failure is usually the telling one (a wrong
		// architecture, a missing dependency).
		fmt.Fprintf(&b, " (tried %d path(s); last: %s)", n, e.Tried[n-1])
	}
	fmt.Fprintf(&b, "; set %s to the directory that holds it", EnvLibPath)
	return b.String()
}

func (e *LibraryError) Unwrap() error { return ErrUnavailable }

// SymbolError says a library lacks a function grid calls: it is too old, or
// not the library it is named after.
type SymbolError struct {
	What   string // what the library is
	Path   string // the file opened
	Symbol string // the missing function
}

func (e *SymbolError) Error() string {
	return fmt.Sprintf("cuda: %s (%s) has no symbol %s: it is too old or not %s (grid needs CUDA 12 or newer)", e.Path, e.What, e.Symbol, e.What)
}

func (e *SymbolError) Unwrap() error { return ErrUnavailable }

// VersionError says two pieces of the CUDA stack do not fit together.
type VersionError struct {
	What string // the piece that is too old or too new
	Have string // its version
	Need string // what would work
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("cuda: %s is version %s; grid needs %s", e.What, e.Have, e.Need)
}

func (e *VersionError) Unwrap() error { return ErrUnavailable }

// Result codes of the driver API that grid names or reacts to.
const (
	cudaSuccess             = 0
	cudaErrorOutOfMemory    = 2
	cudaErrorNotInitialized = 3
	cudaErrorStubLibrary    = 34
	cudaErrorNoDriver       = 35 // CUDA_ERROR_INSUFFICIENT_DRIVER
	cudaErrorNoDevice       = 100
	cudaErrorInvalidDevice  = 101
	cudaErrorNotFound       = 500
)

// DriverError is a failed CUDA driver API call.
type DriverError struct {
	Call    string // the function, e.g. "cuMemAlloc_v2"
	Code    int    // its CUresult
	Name    string // e.g. "CUDA_ERROR_OUT_OF_MEMORY"
	Message string // the driver's description
}

func (e *DriverError) Error() string {
	msg := fmt.Sprintf("cuda: %s failed: %s", e.Call, e.Name)
	if e.Message != "" {
		msg += " (" + e.Message + ")"
	}
	switch e.Code {
	case cudaErrorStubLibrary:
		msg += "; the libcuda.so found is the toolkit's stub, not the driver's: remove its directory from the library path"
	case cudaErrorNoDriver:
		msg += "; the installed NVIDIA driver is older than this CUDA needs"
	}
	return msg
}

// Unwrap makes the errors that mean "no usable GPU here" ErrUnavailable.
func (e *DriverError) Unwrap() error {
	switch e.Code {
	case cudaErrorStubLibrary, cudaErrorNoDriver, cudaErrorNoDevice, cudaErrorInvalidDevice, cudaErrorNotInitialized:
		return ErrUnavailable
	}
	return nil
}

// IsOutOfMemory reports whether err is a device allocation failure.
func IsOutOfMemory(err error) bool {
	var d *DriverError
	return errors.As(err, &d) && d.Code == cudaErrorOutOfMemory
}

// CompileError is a kernel source NVRTC rejected, with its log.
type CompileError struct {
	Source string // the embedded file
	Arch   string // e.g. "sm_90"
	Log    string
}

func (e *CompileError) Error() string {
	return fmt.Sprintf("cuda: NVRTC could not compile %s for %s:\n%s", e.Source, e.Arch, strings.TrimSpace(e.Log))
}

// LibraryCallError is a failed NVRTC or cuBLASLt call.
type LibraryCallError struct {
	Call   string
	Status int
	Name   string
}

func (e *LibraryCallError) Error() string {
	return fmt.Sprintf("cuda: %s failed: %s (status %d)", e.Call, e.Name, e.Status)
}

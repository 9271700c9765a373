package cuda

import (
	"fmt"
	"unsafe"
)

// driver holds the CUDA driver API functions grid calls, bound from
// libcuda.so.1. The C types are declared by hand: handles (CUcontext,
// CUstream, CUmodule, CUfunction, CUevent, CUgraph, CUgraphExec) are opaque
// pointers kept as uintptr, CUdeviceptr is a 64-bit integer, CUdevice and
// CUresult are ints.
type driver struct {
	lib     *openedLibrary
	version int // cuDriverGetVersion: 1000·major + 10·minor

	cuInit, cuDriverGetVersion, cuGetErrorName, cuGetErrorString                              uintptr
	cuDeviceGetCount, cuDeviceGet, cuDeviceGetName, cuDeviceGetAttribute                      uintptr
	cuDeviceTotalMem, cuDeviceGetUuid                                                         uintptr
	cuDevicePrimaryCtxRetain, cuDevicePrimaryCtxRelease, cuCtxSetCurrent, cuCtxSynchronize    uintptr
	cuMemGetInfo, cuMemAlloc, cuMemFree, cuMemHostAlloc, cuMemFreeHost                        uintptr
	cuMemcpyHtoDAsync, cuMemcpyDtoHAsync, cuMemcpyDtoDAsync, cuMemsetD8Async                  uintptr
	cuStreamCreate, cuStreamDestroy, cuStreamSynchronize, cuStreamWaitEvent                   uintptr
	cuEventCreate, cuEventRecord, cuEventSynchronize, cuEventDestroy, cuEventElapsedTime      uintptr
	cuModuleLoadData, cuModuleUnload, cuModuleGetFunction, cuFuncSetAttribute, cuLaunchKernel uintptr
	cuStreamBeginCapture, cuStreamEndCapture, cuGraphInstantiate, cuGraphLaunch               uintptr
	cuGraphExecDestroy, cuGraphDestroy                                                        uintptr
}

// minDriverVersion is CUDA 12.0: the oldest driver API grid is written
// against (stream capture, graph instantiation with flags, sm_90).
const minDriverVersion = 12000

// loadDriver opens libcuda, binds its functions, initialises it and checks
// its version.
func loadDriver(sp SearchPath) (*driver, error) {
	lib, err := sp.open(driverLibrary)
	if err != nil {
		return nil, err
	}
	d := &driver{lib: lib}
	if err := lib.bind(d.symbols()); err != nil {
		return nil, err
	}
	if err := d.check("cuInit", call(d.cuInit, 0)); err != nil {
		return nil, err
	}
	var v int32
	if err := d.check("cuDriverGetVersion", call(d.cuDriverGetVersion, uintptr(unsafe.Pointer(&v)))); err != nil {
		return nil, err
	}
	d.version = int(v)
	if d.version < minDriverVersion {
		return nil, &VersionError{
			What: fmt.Sprintf("the NVIDIA driver (%s)", lib.path),
			Have: "for CUDA " + cudaVersionString(d.version),
			Need: "a driver for CUDA 12.0 or newer (R525+)",
		}
	}
	return d, nil
}

// symbols lists the driver functions. Names with a _v2 suffix are the ABI
// versions cuda.h maps the plain names to since CUDA 4/11.
func (d *driver) symbols() []symbol {
	return []symbol{
		{"cuInit", &d.cuInit}, {"cuDriverGetVersion", &d.cuDriverGetVersion},
		{"cuGetErrorName", &d.cuGetErrorName}, {"cuGetErrorString", &d.cuGetErrorString},
		{"cuDeviceGetCount", &d.cuDeviceGetCount}, {"cuDeviceGet", &d.cuDeviceGet},
		{"cuDeviceGetName", &d.cuDeviceGetName}, {"cuDeviceGetAttribute", &d.cuDeviceGetAttribute},
		{"cuDeviceTotalMem_v2", &d.cuDeviceTotalMem}, {"cuDeviceGetUuid_v2", &d.cuDeviceGetUuid},
		{"cuDevicePrimaryCtxRetain", &d.cuDevicePrimaryCtxRetain},
		{"cuDevicePrimaryCtxRelease_v2", &d.cuDevicePrimaryCtxRelease},
		{"cuCtxSetCurrent", &d.cuCtxSetCurrent}, {"cuCtxSynchronize", &d.cuCtxSynchronize},
		{"cuMemGetInfo_v2", &d.cuMemGetInfo}, {"cuMemAlloc_v2", &d.cuMemAlloc}, {"cuMemFree_v2", &d.cuMemFree},
		{"cuMemHostAlloc", &d.cuMemHostAlloc}, {"cuMemFreeHost", &d.cuMemFreeHost},
		{"cuMemcpyHtoDAsync_v2", &d.cuMemcpyHtoDAsync}, {"cuMemcpyDtoHAsync_v2", &d.cuMemcpyDtoHAsync},
		{"cuMemcpyDtoDAsync_v2", &d.cuMemcpyDtoDAsync}, {"cuMemsetD8Async", &d.cuMemsetD8Async},
		{"cuStreamCreate", &d.cuStreamCreate}, {"cuStreamDestroy_v2", &d.cuStreamDestroy},
		{"cuStreamSynchronize", &d.cuStreamSynchronize}, {"cuStreamWaitEvent", &d.cuStreamWaitEvent},
		{"cuEventCreate", &d.cuEventCreate}, {"cuEventRecord", &d.cuEventRecord},
		{"cuEventSynchronize", &d.cuEventSynchronize}, {"cuEventDestroy_v2", &d.cuEventDestroy},
		{"cuEventElapsedTime", &d.cuEventElapsedTime},
		{"cuModuleLoadData", &d.cuModuleLoadData}, {"cuModuleUnload", &d.cuModuleUnload},
		{"cuModuleGetFunction", &d.cuModuleGetFunction}, {"cuFuncSetAttribute", &d.cuFuncSetAttribute},
		{"cuLaunchKernel", &d.cuLaunchKernel},
		{"cuStreamBeginCapture_v2", &d.cuStreamBeginCapture}, {"cuStreamEndCapture", &d.cuStreamEndCapture},
		{"cuGraphInstantiateWithFlags", &d.cuGraphInstantiate}, {"cuGraphLaunch", &d.cuGraphLaunch},
		{"cuGraphExecDestroy", &d.cuGraphExecDestroy}, {"cuGraphDestroy", &d.cuGraphDestroy},
	}
}

// check turns a CUresult into nil or a *DriverError with the driver's own
// name and description of the code.
func (d *driver) check(fn string, code int) error {
	if code == cudaSuccess {
		return nil
	}
	e := &DriverError{Call: fn, Code: code, Name: fmt.Sprintf("CUresult %d", code)}
	if d.cuGetErrorName != 0 {
		var p *byte
		if call(d.cuGetErrorName, uintptr(code), uintptr(unsafe.Pointer(&p))) == cudaSuccess && p != nil {
			e.Name = goString(p)
		}
	}
	if d.cuGetErrorString != 0 {
		var p *byte
		if call(d.cuGetErrorString, uintptr(code), uintptr(unsafe.Pointer(&p))) == cudaSuccess && p != nil {
			e.Message = goString(p)
		}
	}
	return e
}

// goString copies a NUL-terminated C string.
func goString(p *byte) string {
	n := 0
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}

// cString is s NUL-terminated, for the duration of a synchronous call.
func cString(s string) *byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return &b[0]
}

// cudaVersionString formats a CUDA version number: 12040 -> "12.4".
func cudaVersionString(v int) string {
	return fmt.Sprintf("%d.%d", v/1000, v%1000/10)
}

package cuda

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// Runtime is the CUDA stack of this process, opened at run time: the
// driver API (libcuda.so.1), NVRTC and cuBLASLt. Opening it checks that
// the three fit together; any failure names the library, symbol or
// version at fault and wraps ErrUnavailable.
type Runtime struct {
	drv   *driver
	rtc   *nvrtc
	lt    *cublasLt
	cache kernelCache

	mu      sync.Mutex
	devices map[int]*Device
}

// Options say where the libraries and the kernel cache are.
type Options struct {
	Search   SearchPath
	CacheDir string // compiled kernels; "" keeps them in memory only
}

// DefaultOptions are $GRID_CUDA_LIB_PATH then the system's libraries, and
// DefaultCacheDir.
func DefaultOptions() Options {
	return Options{Search: DefaultSearchPath(), CacheDir: DefaultCacheDir()}
}

// Load opens the CUDA stack.
func Load(opts Options) (*Runtime, error) {
	drv, err := loadDriver(opts.Search)
	if err != nil {
		return nil, err
	}
	rtc, err := loadNVRTC(opts.Search)
	if err != nil {
		return nil, err
	}
	lt, err := loadCublasLt(opts.Search)
	if err != nil {
		return nil, err
	}
	// Code from a newer CUDA major version than the driver's needs a newer
	// driver: catch it here rather than as a cryptic load failure.
	driverMajor := drv.version / 1000
	if rtc.major > driverMajor {
		return nil, &VersionError{
			What: fmt.Sprintf("NVRTC %s (%s)", rtc.Version(), rtc.lib.path),
			Have: fmt.Sprintf("%s, newer than the driver's CUDA %s", rtc.Version(), cudaVersionString(drv.version)),
			Need: fmt.Sprintf("an NVRTC %d.x (%s pointing at it) or a driver for CUDA %d", driverMajor, EnvLibPath, rtc.major),
		}
	}
	if lt.major() > driverMajor {
		return nil, &VersionError{
			What: fmt.Sprintf("cuBLASLt %s (%s)", lt.Version(), lt.lib.path),
			Have: fmt.Sprintf("%s, newer than the driver's CUDA %s", lt.Version(), cudaVersionString(drv.version)),
			Need: fmt.Sprintf("a cuBLASLt %d.x (%s pointing at it) or a driver for CUDA %d", driverMajor, EnvLibPath, lt.major()),
		}
	}
	return &Runtime{drv: drv, rtc: rtc, lt: lt, cache: kernelCache{dir: opts.CacheDir}, devices: map[int]*Device{}}, nil
}

var defaultRuntime struct {
	once sync.Once
	rt   *Runtime
	err  error
}

// Default is the process's Runtime opened with DefaultOptions, once.
func Default() (*Runtime, error) {
	defaultRuntime.once.Do(func() {
		defaultRuntime.rt, defaultRuntime.err = Load(DefaultOptions())
	})
	return defaultRuntime.rt, defaultRuntime.err
}

// String names the libraries and their versions, for logs.
func (r *Runtime) String() string {
	return fmt.Sprintf("CUDA driver %s (%s), NVRTC %s (%s), cuBLASLt %s (%s)",
		cudaVersionString(r.drv.version), r.drv.lib.path, r.rtc.Version(), r.rtc.lib.path, r.lt.Version(), r.lt.lib.path)
}

// DeviceInfo describes one GPU.
type DeviceInfo struct {
	Ordinal      int    // index among the devices this process sees
	Name         string // e.g. "NVIDIA H200"
	UUID         string // "GPU-…", as CUDA_VISIBLE_DEVICES accepts it
	Major, Minor int    // compute capability
	SMs          int    // multiprocessors
	Memory       int64  // bytes
}

// Arch is the compute capability as 10·major + minor (90 for sm_90).
func (i DeviceInfo) Arch() int { return 10*i.Major + i.Minor }

func (i DeviceInfo) String() string {
	return fmt.Sprintf("%s (sm_%d, %d SMs, %.0f GiB)", i.Name, i.Arch(), i.SMs, float64(i.Memory)/(1<<30))
}

// CUdevice_attribute values (cuda.h).
const (
	attrMultiprocessorCount = 16
	attrComputeMajor        = 75
	attrComputeMinor        = 76
	attrMaxSharedOptin      = 97
)

// Devices lists the GPUs this process sees (CUDA_VISIBLE_DEVICES applies).
func (r *Runtime) Devices() ([]DeviceInfo, error) {
	d := r.drv
	var n int32
	if err := d.check("cuDeviceGetCount", call(d.cuDeviceGetCount, uintptr(unsafe.Pointer(&n)))); err != nil {
		return nil, err
	}
	infos := make([]DeviceInfo, 0, n)
	for i := 0; i < int(n); i++ {
		info, err := r.deviceInfo(i)
		if err != nil {
			return nil, err
		}
		infos = append(infos, info)
	}
	return infos, nil
}

func (r *Runtime) deviceInfo(ordinal int) (DeviceInfo, error) {
	d := r.drv
	info := DeviceInfo{Ordinal: ordinal}
	var dev int32
	if err := d.check("cuDeviceGet", call(d.cuDeviceGet, uintptr(unsafe.Pointer(&dev)), uintptr(ordinal))); err != nil {
		return info, err
	}
	name := make([]byte, 256)
	if err := d.check("cuDeviceGetName", call(d.cuDeviceGetName, uintptr(unsafe.Pointer(&name[0])), uintptr(len(name)), uintptr(dev))); err != nil {
		return info, err
	}
	info.Name = goString(&name[0])
	for _, a := range []struct {
		attr int
		dst  *int
	}{{attrComputeMajor, &info.Major}, {attrComputeMinor, &info.Minor}, {attrMultiprocessorCount, &info.SMs}} {
		var v int32
		if err := d.check("cuDeviceGetAttribute", call(d.cuDeviceGetAttribute, uintptr(unsafe.Pointer(&v)), uintptr(a.attr), uintptr(dev))); err != nil {
			return info, err
		}
		*a.dst = int(v)
	}
	var mem uint64
	if err := d.check("cuDeviceTotalMem_v2", call(d.cuDeviceTotalMem, uintptr(unsafe.Pointer(&mem)), uintptr(dev))); err != nil {
		return info, err
	}
	info.Memory = int64(mem)
	var uuid [16]byte
	if err := d.check("cuDeviceGetUuid_v2", call(d.cuDeviceGetUuid, uintptr(unsafe.Pointer(&uuid[0])), uintptr(dev))); err != nil {
		return info, err
	}
	info.UUID = fmt.Sprintf("GPU-%x-%x-%x-%x-%x", uuid[0:4], uuid[4:6], uuid[6:8], uuid[8:10], uuid[10:16])
	return info, nil
}

// Device returns the device of an ordinal, retaining its primary context
// on first use. Every Backend on a device shares that context (and so its
// memory): a buffer of one is a valid pointer for another.
func (r *Runtime) Device(ordinal int) (*Device, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d, ok := r.devices[ordinal]; ok {
		return d, nil
	}
	info, err := r.deviceInfo(ordinal)
	if err != nil {
		return nil, err
	}
	var ctx uintptr
	var dev int32
	if err := r.drv.check("cuDeviceGet", call(r.drv.cuDeviceGet, uintptr(unsafe.Pointer(&dev)), uintptr(ordinal))); err != nil {
		return nil, err
	}
	if err := r.drv.check("cuDevicePrimaryCtxRetain", call(r.drv.cuDevicePrimaryCtxRetain, uintptr(unsafe.Pointer(&ctx)), uintptr(dev))); err != nil {
		return nil, err
	}
	d := &Device{rt: r, info: info, handle: dev, ctx: ctx, modules: map[Precision]*module{}}
	r.devices[ordinal] = d
	return d, nil
}

// Device is one GPU with its primary context.
type Device struct {
	rt     *Runtime
	info   DeviceInfo
	handle int32 // CUdevice
	ctx    uintptr

	mu      sync.Mutex
	modules map[Precision]*module
}

// Info describes the device.
func (d *Device) Info() DeviceInfo { return d.info }

// enter makes the device's context current on this goroutine's OS thread
// and keeps the goroutine there until exit: the driver's current context
// is per thread, and goroutines move between threads. Every entry point
// that calls the driver brackets its calls with enter/exit.
func (d *Device) enter() error {
	runtime.LockOSThread()
	if err := d.rt.drv.check("cuCtxSetCurrent", call(d.rt.drv.cuCtxSetCurrent, d.ctx)); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	return nil
}

func (d *Device) exit() { runtime.UnlockOSThread() }

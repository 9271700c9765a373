package cuda

import (
	"fmt"
	"unsafe"
)

// module is the kernel program loaded on a device for one precision, with
// its functions.
type module struct {
	handle uintptr
	funcs  map[string]uintptr
}

// module returns the device's kernels for a precision: compiled by NVRTC
// for the device's architecture on first use (or read from the kernel
// cache) and loaded once per process.
func (d *Device) module(p Precision) (*module, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if m, ok := d.modules[p]; ok {
		return m, nil
	}
	rt := d.rt
	src, opts := programSource(), p.options()
	t, err := rt.rtc.targetFor(d.info.Arch())
	if err != nil {
		return nil, err
	}
	key := cacheKey(src, t, opts, "nvrtc "+rt.rtc.Version())
	image := rt.cache.get(key)
	cached := image != nil
	if !cached {
		if image, err = rt.rtc.compile("grid_kernels.cu", src, t, opts); err != nil {
			return nil, err
		}
		// An unwritable cache only costs a compilation next time.
		_ = rt.cache.put(key, image)
	}
	m, err := d.load(image, kernelNames(src))
	if err != nil && cached {
		// A damaged cache entry: compile afresh.
		rt.cache.drop(key)
		if image, err = rt.rtc.compile("grid_kernels.cu", src, t, opts); err != nil {
			return nil, err
		}
		_ = rt.cache.put(key, image)
		m, err = d.load(image, kernelNames(src))
	}
	if err != nil {
		return nil, err
	}
	d.modules[p] = m
	return m, nil
}

// cuFuncAttributeMaxDynamicSharedSize is CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES.
const cuFuncAttributeMaxDynamicSharedSize = 8

// load loads a cubin or PTX image and looks up the named kernels.
func (d *Device) load(image []byte, names []string) (*module, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer d.exit()
	drv := d.rt.drv
	m := &module{funcs: map[string]uintptr{}}
	if err := drv.check("cuModuleLoadData", call(drv.cuModuleLoadData, uintptr(unsafe.Pointer(&m.handle)), uintptr(unsafe.Pointer(&image[0])))); err != nil {
		return nil, err
	}
	for _, name := range names {
		var fn uintptr
		if err := drv.check("cuModuleGetFunction", call(drv.cuModuleGetFunction, uintptr(unsafe.Pointer(&fn)), m.handle, uintptr(unsafe.Pointer(cString(name))))); err != nil {
			call(drv.cuModuleUnload, m.handle)
			return nil, fmt.Errorf("cuda: kernel %s: %w", name, err)
		}
		m.funcs[name] = fn
	}
	var optin int32
	if err := drv.check("cuDeviceGetAttribute", call(drv.cuDeviceGetAttribute, uintptr(unsafe.Pointer(&optin)), attrMaxSharedOptin, uintptr(d.handle))); err != nil {
		return nil, err
	}
	for _, name := range sharedMemoryKernels {
		if err := drv.check("cuFuncSetAttribute", call(drv.cuFuncSetAttribute, m.funcs[name], cuFuncAttributeMaxDynamicSharedSize, uintptr(optin))); err != nil {
			return nil, fmt.Errorf("cuda: kernel %s: %w", name, err)
		}
	}
	return m, nil
}

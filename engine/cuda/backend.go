package cuda

import (
	"fmt"
	"unsafe"

	"github.com/fomo-grid/grid/engine/backend"
)

// Backend implements backend.Backend on one CUDA device. Each Backend has
// its own stream, cuBLASLt handle and workspace, so a job is one Backend
// and several jobs on one GPU run concurrently; Backends of the same device
// share its context, its compiled kernels and its memory (a buffer of one
// may be used by another of the same precision, so weights can be held
// once per GPU).
type Backend struct {
	rt   *Runtime
	dev  *Device
	prec Precision
	tf32 bool
	mod  *module

	stream        uintptr
	lt            uintptr // cublasLtHandle_t
	workspace     uintptr
	workspaceSize uint64
	plans         map[gemmShape]*gemmPlan
	args          *argArena
	queue         []op
	graphs        *graphCache // nil: every op issued directly

	uploads   [uploadSlots]stagingSlot
	next      int
	downloads stagingSlot
	scratch   devScratch
	hostMem   []unsafe.Pointer // pinned host allocations, freed by Close
	allocs    map[uintptr]int64

	err        error // the first device failure; every later Download reports it
	live, peak int64 // device bytes this Backend allocated
	maxBlocks  int
	family     *family // from Open: the siblings at other precisions
}

var _ backend.Backend = (*Backend)(nil)

// Config chooses a Backend's device and arithmetic.
type Config struct {
	Device    int       // ordinal among the visible devices
	Precision Precision // storage of Float32 buffers and GEMM inputs
	// TF32 lets fp32 GEMMs use tensor cores with TF32 inputs (PyTorch's
	// allow_tf32); off, fp32 GEMMs are exact fp32 like the CPU backend's.
	TF32 bool
	// NoGraphs issues every operation directly instead of replaying
	// repeated sequences as CUDA graphs (for debugging and timing).
	NoGraphs bool
}

// workspaceBytes is cuBLASLt's workspace per Backend (NVIDIA recommends 32
// MiB on Hopper).
const workspaceBytes = 32 << 20

// New makes a Backend on a device of rt: it compiles (or loads from the
// cache) the kernels for the precision and creates the stream, the cuBLASLt
// handle and the workspace.
func New(rt *Runtime, cfg Config) (*Backend, error) {
	dev, err := rt.Device(cfg.Device)
	if err != nil {
		return nil, err
	}
	mod, err := dev.module(cfg.Precision)
	if err != nil {
		return nil, err
	}
	b := &Backend{rt: rt, dev: dev, prec: cfg.Precision, tf32: cfg.TF32, mod: mod,
		plans: map[gemmShape]*gemmPlan{}, allocs: map[uintptr]int64{}, maxBlocks: 32 * max(dev.info.SMs, 1)}
	if !cfg.NoGraphs {
		b.graphs = newGraphCache()
	}
	if err := dev.enter(); err != nil {
		return nil, err
	}
	defer dev.exit()
	if err := b.init(); err != nil {
		b.release()
		return nil, err
	}
	return b, nil
}

// streamNonBlocking: the stream does not synchronise with the legacy
// default stream.
const streamNonBlocking = 1

func (b *Backend) init() error {
	d := b.drv()
	if err := d.check("cuStreamCreate", call(d.cuStreamCreate, uintptr(unsafe.Pointer(&b.stream)), streamNonBlocking)); err != nil {
		return err
	}
	if err := b.rt.lt.check("cublasLtCreate", call(b.rt.lt.cublasLtCreate, uintptr(unsafe.Pointer(&b.lt)))); err != nil {
		return err
	}
	ws, err := b.deviceAlloc(workspaceBytes)
	if err != nil {
		return err
	}
	b.workspace, b.workspaceSize = ws, workspaceBytes
	for i := range b.uploads {
		if err := d.check("cuEventCreate", call(d.cuEventCreate, uintptr(unsafe.Pointer(&b.uploads[i].event)), eventDisableTiming)); err != nil {
			return err
		}
	}
	b.args, err = newArgArena(b)
	return err
}

func (b *Backend) drv() *driver { return b.rt.drv }

// Name is "cuda".
func (b *Backend) Name() string { return "cuda" }

// Device describes the GPU, the CUDA stack and the precision.
func (b *Backend) Device() string {
	return fmt.Sprintf("%s, CUDA driver %s, NVRTC %s, cuBLASLt %s, %s",
		b.dev.info, cudaVersionString(b.rt.drv.version), b.rt.rtc.Version(), b.rt.lt.Version(), b.prec)
}

// Precision is the storage precision of the Backend's Float32 buffers.
func (b *Backend) Precision() Precision { return b.prec }

// PeakBytes is the most device memory this Backend had allocated at once
// (since ResetPeak): its buffers, cuBLASLt workspace and scratch.
func (b *Backend) PeakBytes() int64 { return b.peak }

// Close waits for the queued work, then frees everything the Backend
// allocated (buffers included) and its stream.
func (b *Backend) Close() error {
	if b.stream == 0 {
		return nil
	}
	if err := b.dev.enter(); err != nil {
		return err
	}
	defer b.dev.exit()
	b.flush()
	b.setErr(b.drv().check("cuStreamSynchronize", call(b.drv().cuStreamSynchronize, b.stream)))
	err := b.err
	b.release()
	return err
}

// release frees what init and the operations created. The device's
// context is current.
func (b *Backend) release() {
	d := b.drv()
	if b.graphs != nil {
		for _, e := range b.graphs.entries {
			call(d.cuGraphExecDestroy, e.exec)
		}
		b.graphs.entries = nil
	}
	for _, p := range b.plans {
		if p != nil {
			p.destroy(b.rt.lt)
		}
	}
	b.plans = map[gemmShape]*gemmPlan{}
	for ptr := range b.allocs {
		call(d.cuMemFree, ptr)
	}
	b.allocs = map[uintptr]int64{}
	b.live = 0
	for _, p := range b.hostMem {
		call(d.cuMemFreeHost, uintptr(p))
	}
	b.hostMem = nil
	for _, s := range append(b.uploads[:], b.downloads) {
		if s.event != 0 {
			call(d.cuEventDestroy, s.event)
		}
	}
	if b.lt != 0 {
		call(b.rt.lt.cublasLtDestroy, b.lt)
		b.lt = 0
	}
	if b.stream != 0 {
		call(d.cuStreamDestroy, b.stream)
		b.stream = 0
	}
}

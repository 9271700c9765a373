// Package cuda is the NVIDIA GPU backend of the engine: backend.Backend on
// CUDA, with no cgo and nothing from CUDA needed to build it.
//
// # Loading
//
// The CUDA driver API (libcuda.so.1), NVRTC and cuBLASLt are opened at run
// time with purego (Load, Default); the few C types and constants used are
// declared by hand. Libraries are looked for in $GRID_CUDA_LIB_PATH, then by
// the dynamic linker, then (NVRTC and cuBLASLt) in the usual CUDA toolkit
// and Python wheel directories. Anything missing or too old is an error
// that names the library, symbol or version and wraps ErrUnavailable, so
// that `backend = "auto"` can fall back to the CPU and `backend = "cuda"`
// can say exactly what is wrong.
//
// # Kernels
//
// The kernels are CUDA C sources embedded in the binary (kernels/*.cu, one
// program). On first use on a device they are compiled by NVRTC for its
// compute capability (PTX for the newest architecture NVRTC knows when the
// GPU is newer) and the result is cached in $GRID_CACHE_DIR/cuda, keyed by
// a hash of the source, options, target and NVRTC version. GEMMs run on
// cuBLASLt. Float32 buffers are stored at the Backend's Precision (fp32,
// fp16 or bf16); arithmetic is fp32 throughout: GEMMs accumulate in fp32,
// LayerNorm and softmax statistics are fp32 (the seed's PREC=fp16).
//
// # Threads, streams, graphs
//
// The driver's current context is per OS thread and goroutines move
// between threads, so every entry point that calls the driver locks its
// goroutine to its thread and makes the device's primary context current
// (Device.enter). Each Backend has its own stream, cuBLASLt handle and
// workspace: one Backend per job, several jobs per GPU, weights shareable
// between the Backends of a device. Operations are queued and issued at
// the next synchronisation point; a sequence issued before is replayed as a
// CUDA graph (queue.go). Uploads go through pinned staging buffers and
// return before the copy is done (transfer.go).
//
// # Testing without a GPU
//
// The tests build testdata/emu, an emulated GPU (the driver API, NVRTC and
// cuBLASLt answered on the host, the kernel sources compiled by the host
// C++ compiler and run with one fiber per thread), and run the loader and
// its errors, the kernel cache, the conformance suite and the precision,
// graph and failure tests against it. What only real hardware shows is
// checked by the device check in gpucheck/ (see docs/performance.md).
package cuda

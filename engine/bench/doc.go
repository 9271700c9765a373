// Package bench holds no code of its own: its benchmarks (`make bench`)
// measure the engine against a PyTorch reference in the same run, on the
// same shapes and thread count, and print each figure as a ratio.
//
// The reference is engine/reference/bench_pytorch.py, run with Debian's
// python3-torch (OpenBLAS). PyTorch runs "at its best": the benchmark
// removes OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE from the reference's
// environment (a machine may pin OpenBLAS to its AVX2 kernels through
// them), and on a CPU with AVX-512 it also reports the AVX2-pinned figure.
// Where torch is missing the benchmarks say so and print the Go figures
// only.
//
// Every training-step and evaluation measurement, on either side, runs in a
// fresh process of its own, so its peak RSS is that job's alone. Each one
// takes a warm-up and then several repetitions of its own (best and spread
// are reported), so the package's benchmarks are meant for -benchtime 1x.
//
// Settings, from the environment: BENCH_QUICK=1 for a short run (fewer
// shapes, repetitions and configurations), BENCH_THREADS (default: every
// CPU), PYTHON (default /usr/bin/python3, Debian's, where it exists).
package bench

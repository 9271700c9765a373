// emu.h lets the host compiler build grid's CUDA kernels, for tests on
// machines without a GPU: it declares what NVRTC provides built in
// (__global__, threadIdx, __syncthreads, warp shuffles, the math and bit
// intrinsics) on top of a small runtime (emu_runtime.cpp) that runs each
// thread of a block as a fiber, so barriers and shuffles behave as on a GPU
// (and a barrier that not every thread reaches aborts with "deadlock").
#pragma once
#include <math.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#define GRID_HOST_EMU 1
#define __global__
#define __device__
#define __forceinline__ inline
#define GRID_DEVICE inline
#define GRID_DYNAMIC_SMEM(type, name) type* name = reinterpret_cast<type*>(grid_emu_dynamic_smem())
#define GRID_INFINITY INFINITY

struct grid_emu_dim3 {
    unsigned int x, y, z;
};

extern "C" {
extern grid_emu_dim3 grid_emu_threadIdx, grid_emu_blockIdx, grid_emu_blockDim, grid_emu_gridDim;
void grid_emu_syncthreads(void);
float grid_emu_shfl_xor(float v, int lane_mask);
void* grid_emu_dynamic_smem(void);
unsigned short grid_emu_float_to_half(float x);
float grid_emu_half_to_float(unsigned short h);
}

#define threadIdx grid_emu_threadIdx
#define blockIdx grid_emu_blockIdx
#define blockDim grid_emu_blockDim
#define gridDim grid_emu_gridDim

static inline void __syncthreads() { grid_emu_syncthreads(); }
static inline float __shfl_xor_sync(unsigned int, float v, int lane_mask) { return grid_emu_shfl_xor(v, lane_mask); }

static inline float __uint_as_float(unsigned int u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
static inline unsigned int __float_as_uint(float f) {
    unsigned int u;
    std::memcpy(&u, &f, 4);
    return u;
}
static inline float __int_as_float(int i) {
    float f;
    std::memcpy(&f, &i, 4);
    return f;
}
// The _rn intrinsics round each operation; the emulator is built with
// -ffp-contract=off, so plain operators already do.
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }

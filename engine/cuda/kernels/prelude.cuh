// Prelude of every grid kernel source: the storage type of activations and
// weights, conversions, and warp/block reductions.
//
// Buffers the Go side calls Float32 are stored as `act`: float, or 16-bit
// fp16/bf16 when a job runs at reduced precision (-DGRID_ACT_F16,
// -DGRID_ACT_BF16). Kernels load `act`, compute in fp32 (LayerNorm and
// softmax statistics included) and round once when they store. The 16-bit
// types are plain structs with our own conversions, so the source needs no
// CUDA header: NVRTC compiles it as it stands, and the host compiler can
// check it (GRID_HOST_EMU, see the tests).

#ifndef GRID_HOST_EMU
#define GRID_DEVICE __device__ __forceinline__
#define GRID_DYNAMIC_SMEM(type, name) \
    extern __shared__ alignas(16) unsigned char grid_dynamic_smem_[]; \
    type* name = reinterpret_cast<type*>(grid_dynamic_smem_)
#define GRID_INFINITY __int_as_float(0x7f800000)
#endif

struct f16 {
    unsigned short bits;
};
struct bf16 {
    unsigned short bits;
};

GRID_DEVICE float to_f32(float x) { return x; }
GRID_DEVICE float to_f32(bf16 x) { return __uint_as_float(((unsigned int)x.bits) << 16); }

#ifdef GRID_HOST_EMU
GRID_DEVICE float to_f32(f16 x) { return grid_emu_half_to_float(x.bits); }
GRID_DEVICE f16 make_f16(float x) {
    f16 h;
    h.bits = grid_emu_float_to_half(x);
    return h;
}
#else
GRID_DEVICE float to_f32(f16 x) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(x.bits));
    return f;
}
GRID_DEVICE f16 make_f16(float x) {
    f16 h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h.bits) : "f"(x));
    return h;
}
#endif

// bf16 rounding to nearest even, in software so that it needs no sm_80
// instruction: the low 16 bits of the float decide.
GRID_DEVICE bf16 make_bf16(float x) {
    unsigned int u = __float_as_uint(x);
    bf16 b;
    if ((u & 0x7fffffffu) > 0x7f800000u) {  // NaN stays a (quiet) NaN
        b.bits = (unsigned short)((u >> 16) | 0x40u);
        return b;
    }
    u += 0x7fffu + ((u >> 16) & 1u);
    b.bits = (unsigned short)(u >> 16);
    return b;
}

template <typename T> GRID_DEVICE T from_f32(float x);
template <> GRID_DEVICE float from_f32<float>(float x) { return x; }
template <> GRID_DEVICE f16 from_f32<f16>(float x) { return make_f16(x); }
template <> GRID_DEVICE bf16 from_f32<bf16>(float x) { return make_bf16(x); }

#if defined(GRID_ACT_F16)
typedef f16 act;
#elif defined(GRID_ACT_BF16)
typedef bf16 act;
#else
typedef float act;
#endif

// ld reads element i of an act buffer as fp32; st rounds v into it.
GRID_DEVICE float ld(const act* p, long long i) { return to_f32(p[i]); }
GRID_DEVICE void st(act* p, long long i, float v) { p[i] = from_f32<act>(v); }
// rnd rounds v to the storage precision and back: the value a store then a
// load would give.
GRID_DEVICE float rnd(float v) { return to_f32(from_f32<act>(v)); }

GRID_DEVICE float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

GRID_DEVICE float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Launch shapes the Go side uses: elementwise kernels run blocks of
// GRID_THREADS threads over a grid-stride loop; row kernels put one warp on
// a row, GRID_ROW_WARPS rows to a block.
#define GRID_THREADS 256
#define GRID_ROW_WARPS 4

// The global index and stride of a grid-stride loop.
#define GRID_FOR(i, n) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (long long)(n); \
         i += (long long)gridDim.x * blockDim.x)

// The row of a row kernel's warp, and its lane.
#define GRID_WARP_ROW() ((int)(blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5)))
#define GRID_LANE() ((int)(threadIdx.x & 31))

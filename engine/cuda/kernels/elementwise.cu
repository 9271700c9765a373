// Elementwise kernels: conversions at the host boundary, QuickGELU, the
// residual connection, scaling and the SGD and AdamW steps. Grid-stride
// loops over n.

// cast_in converts an uploaded fp32 array into act storage.
extern "C" __global__ void cast_in(act* out, const float* in, long long n) {
    GRID_FOR(i, n) { st(out, i, in[i]); }
}

// cast_out converts act storage to fp32 for a download.
extern "C" __global__ void cast_out(float* out, const act* in, long long n) {
    GRID_FOR(i, n) { out[i] = ld(in, i); }
}

#define GRID_QUICKGELU_ALPHA 1.702f

GRID_DEVICE float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

// quickgelu_forward: out = x·σ(1.702x). out may alias in.
extern "C" __global__ void quickgelu_forward(act* out, const act* in, long long n) {
    GRID_FOR(i, n) {
        float x = ld(in, i);
        st(out, i, x * sigmoidf(GRID_QUICKGELU_ALPHA * x));
    }
}

// quickgelu_backward: dinp += dout·(s + 1.702·x·s·(1−s)), s = σ(1.702x).
extern "C" __global__ void quickgelu_backward(act* dinp, const act* in, const act* dout, long long n) {
    GRID_FOR(i, n) {
        float x = ld(in, i);
        float s = sigmoidf(GRID_QUICKGELU_ALPHA * x);
        st(dinp, i, ld(dinp, i) + ld(dout, i) * (s + GRID_QUICKGELU_ALPHA * x * s * (1.0f - s)));
    }
}

// add: out = a + b; out may alias a or b.
extern "C" __global__ void add(act* out, const act* a, const act* b, long long n) {
    GRID_FOR(i, n) { st(out, i, ld(a, i) + ld(b, i)); }
}

// accumulate: dst += src.
extern "C" __global__ void accumulate(act* dst, const act* src, long long n) {
    GRID_FOR(i, n) { st(dst, i, ld(dst, i) + ld(src, i)); }
}

// scale: out = alpha·in; out may alias in.
extern "C" __global__ void scale(act* out, const act* in, float alpha, long long n) {
    GRID_FOR(i, n) { st(out, i, alpha * ld(in, i)); }
}

// sgd_step is torch.optim.SGD without dampening or Nesterov. Products are
// rounded before they are added (__fmul_rn is never contracted into an
// FMA), as torch's separate kernels do, and every intermediate tensor torch
// would write is rounded to the storage precision: a 16-bit parameter
// loses updates below its resolution exactly as the seed's fp16 run did.
// velocity is null when the optimiser has no momentum buffer.
extern "C" __global__ void sgd_step(act* param, const act* grad, act* velocity, float lr, float momentum,
                                    float weight_decay, int first, long long n) {
    GRID_FOR(i, n) {
        float p = ld(param, i);
        float g = rnd(__fadd_rn(ld(grad, i), __fmul_rn(weight_decay, p)));
        if (velocity != 0) {
            float v = first ? g : rnd(__fadd_rn(rnd(__fmul_rn(momentum, ld(velocity, i))), g));
            st(velocity, i, v);
            g = v;
        }
        st(param, i, __fsub_rn(p, __fmul_rn(lr, g)));
    }
}

// adamw_step is torch.optim.AdamW without amsgrad. The host computes what
// depends only on the step number (backend.AdamWCorrections): step_size =
// lr/(1−beta1^t) and root_correction = sqrt(1−beta2^t). The moments are
// stored like every Float32 buffer.
extern "C" __global__ void adamw_step(act* param, const act* grad, act* m, act* v, float lr, float beta1, float beta2,
                                      float eps, float weight_decay, float step_size, float root_correction,
                                      long long n) {
    GRID_FOR(i, n) {
        float g = ld(grad, i);
        float mi = beta1 * ld(m, i) + (1.0f - beta1) * g;
        float vi = beta2 * ld(v, i) + (1.0f - beta2) * g * g;
        st(m, i, mi);
        st(v, i, vi);
        float p = ld(param, i) * (1.0f - lr * weight_decay);
        st(param, i, p - step_size * mi / (sqrtf(vi) / root_correction + eps));
    }
}

// LayerNorm over rows of dim elements, statistics in fp32 whatever the
// storage precision (the seed's LayerNorm casts to fp32 too). One warp per
// row, GRID_ROW_WARPS rows per block.

#define GRID_LAYERNORM_EPS 1e-5f

// row_stats computes a row's mean and 1/sqrt(var+eps) (biased variance, two
// passes). Every lane of the warp gets both.
GRID_DEVICE void row_stats(const act* x, int dim, int lane, float* mean, float* rstd) {
    float s = 0.0f;
    for (int i = lane; i < dim; i += 32) s += ld(x, i);
    float m = warp_sum(s) / (float)dim;
    float q = 0.0f;
    for (int i = lane; i < dim; i += 32) {
        float d = ld(x, i) - m;
        q += d * d;
    }
    *mean = m;
    *rstd = rsqrtf(warp_sum(q) / (float)dim + GRID_LAYERNORM_EPS);
}

extern "C" __global__ void layernorm_forward(act* out, act* mean, act* rstd, const act* inp, const act* weight,
                                             const act* bias, int rows, int dim) {
    int row = GRID_WARP_ROW(), lane = GRID_LANE();
    if (row >= rows) return;  // the whole warp leaves together
    const act* x = inp + (long long)row * dim;
    act* y = out + (long long)row * dim;
    float m, r;
    row_stats(x, dim, lane, &m, &r);
    for (int i = lane; i < dim; i += 32) st(y, i, (ld(x, i) - m) * r * ld(weight, i) + ld(bias, i));
    if (lane == 0) {
        st(mean, row, m);
        st(rstd, row, r);
    }
}

// layernorm_backward adds the input gradient: dx = r·(g − mean(g) −
// n·mean(g·n)), g = w·dy, n the normalised input. The statistics are
// recomputed from inp in fp32 rather than read back from a 16-bit saved
// copy.
extern "C" __global__ void layernorm_backward(act* dinp, const act* dout, const act* inp, const act* weight, int rows,
                                              int dim) {
    int row = GRID_WARP_ROW(), lane = GRID_LANE();
    if (row >= rows) return;
    const act* x = inp + (long long)row * dim;
    const act* dy = dout + (long long)row * dim;
    act* dx = dinp + (long long)row * dim;
    float m, r;
    row_stats(x, dim, lane, &m, &r);
    float sg = 0.0f, sgn = 0.0f;
    for (int i = lane; i < dim; i += 32) {
        float g = ld(weight, i) * ld(dy, i);
        sg += g;
        sgn += g * (ld(x, i) - m) * r;
    }
    float meanG = warp_sum(sg) / (float)dim, meanGN = warp_sum(sgn) / (float)dim;
    for (int i = lane; i < dim; i += 32) {
        float n = (ld(x, i) - m) * r;
        st(dx, i, ld(dx, i) + r * (ld(weight, i) * ld(dy, i) - meanG - n * meanGN));
    }
}

// layernorm_param_backward adds the weight and bias gradients (either may be
// null), one thread per column summing over rows in order: deterministic,
// and cheap for the few LayerNorms whose parameters ever need a gradient.
extern "C" __global__ void layernorm_param_backward(act* dweight, act* dbias, const act* dout, const act* inp,
                                                    const act* mean, const act* rstd, int rows, int dim) {
    GRID_FOR(col, dim) {
        float dw = 0.0f, db = 0.0f;
        for (int row = 0; row < rows; row++) {
            long long i = (long long)row * dim + col;
            float dy = ld(dout, i);
            dw += (ld(inp, i) - ld(mean, row)) * ld(rstd, row) * dy;
            db += dy;
        }
        if (dweight != 0) st(dweight, col, ld(dweight, col) + dw);
        if (dbias != 0) st(dbias, col, ld(dbias, col) + db);
    }
}

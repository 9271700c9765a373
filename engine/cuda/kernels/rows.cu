// Row operations: embedding lookups, picking rows, cutting images into
// patches, and their backward passes. Sums over a batch run in a fixed
// order in one thread per output element, so results are deterministic.

// gather_rows: dst[i] = src[rows[i]] for i < n, rows of dim.
extern "C" __global__ void gather_rows(act* dst, const act* src, const int* rows, int n, int dim) {
    GRID_FOR(e, (long long)n * dim) {
        long long i = e / dim, c = e - i * dim;
        dst[e] = src[(long long)rows[i] * dim + c];
    }
}

// scatter_add_rows: dst[rows[i]] += src[i] for i < n, in order of i, one
// thread per column (rows may repeat).
extern "C" __global__ void scatter_add_rows(act* dst, const act* src, const int* rows, int n, int dim) {
    GRID_FOR(c, dim) {
        for (int i = 0; i < n; i++) {
            long long at = (long long)rows[i] * dim + c;
            st(dst, at, ld(dst, at) + ld(src, (long long)i * dim + c));
        }
    }
}

// bias_backward: dbias[c] += Σ_rows dout[r,c], one thread per column.
extern "C" __global__ void bias_backward(act* dbias, const act* dout, int rows, int dim) {
    GRID_FOR(c, dim) {
        float s = 0.0f;
        for (int r = 0; r < rows; r++) s += ld(dout, (long long)r * dim + c);
        st(dbias, c, ld(dbias, c) + s);
    }
}

// embed_tokens_forward: out[s,t] = table[ids[s,t]] + pos[t], the DPT
// context ctx[t−1] replacing the token embedding at t = 1..nctx when ctx is
// not null.
extern "C" __global__ void embed_tokens_forward(act* out, const int* ids, const act* table, const act* pos,
                                                const act* ctx, int seqs, int T, int dim, int nctx) {
    GRID_FOR(e, (long long)seqs * T * dim) {
        long long row = e / dim, c = e - row * dim;
        int t = (int)(row % T);
        float emb = (ctx != 0 && t >= 1 && t <= nctx) ? ld(ctx, (long long)(t - 1) * dim + c)
                                                      : ld(table, (long long)ids[row] * dim + c);
        st(out, e, emb + ld(pos, (long long)t * dim + c));
    }
}

// embed_tokens_backward: dctx[j] += Σ_s dout[s,1+j], j < nctx.
extern "C" __global__ void embed_tokens_backward(act* dctx, const act* dout, int seqs, int T, int dim, int nctx) {
    GRID_FOR(e, (long long)nctx * dim) {
        long long j = e / dim, c = e - j * dim;
        float s = 0.0f;
        for (int q = 0; q < seqs; q++) s += ld(dout, ((long long)q * T + 1 + j) * dim + c);
        st(dctx, e, ld(dctx, e) + s);
    }
}

// patchify: one row per patch (row-major grid order) of channels·patch²
// values in (channel, row, column) order, from images [batch,channels,
// size,size].
extern "C" __global__ void patchify(act* out, const act* images, int batch, int channels, int size, int patch) {
    int grid = size / patch, rowLen = channels * patch * patch;
    GRID_FOR(e, (long long)batch * grid * grid * rowLen) {
        long long row = e / rowLen;
        int col = (int)(e - row * rowLen);
        int b = (int)(row / (grid * grid)), g = (int)(row % (grid * grid));
        int gy = g / grid, gx = g % grid;
        int ch = col / (patch * patch), k = col % (patch * patch);
        int ky = k / patch, kx = k % patch;
        out[e] = images[(((long long)b * channels + ch) * size + gy * patch + ky) * size + gx * patch + kx];
    }
}

// embed_patches_forward: per image, class + pos[0], then patches + pos[1..P],
// then the nextra rows of extra (no positional embedding).
extern "C" __global__ void embed_patches_forward(act* out, const act* patches, const act* cls, const act* pos,
                                                 const act* extra, int batch, int P, int nextra, int dim) {
    int T = 1 + P + nextra;
    GRID_FOR(e, (long long)batch * T * dim) {
        long long row = e / dim;
        int c = (int)(e - row * dim), b = (int)(row / T), t = (int)(row % T);
        float v;
        if (t == 0)
            v = ld(cls, c) + ld(pos, c);
        else if (t <= P)
            v = ld(patches, ((long long)b * P + t - 1) * dim + c) + ld(pos, (long long)t * dim + c);
        else
            v = ld(extra, (long long)(t - 1 - P) * dim + c);
        st(out, e, v);
    }
}

// embed_patches_backward: dextra[j] += Σ_b dout[b,1+P+j], j < nextra.
extern "C" __global__ void embed_patches_backward(act* dextra, const act* dout, int batch, int P, int nextra,
                                                  int dim) {
    int T = 1 + P + nextra;
    GRID_FOR(e, (long long)nextra * dim) {
        long long j = e / dim, c = e - j * dim;
        float s = 0.0f;
        for (int b = 0; b < batch; b++) s += ld(dout, ((long long)b * T + 1 + P + j) * dim + c);
        st(dextra, e, ld(dextra, e) + s);
    }
}

// gemm_fallback is the GEMM of a shape cuBLASLt has no algorithm for (an
// operand misaligned for every kernel it has): C = op(A)·op(B) + beta·C
// (+ bias over C's rows), column-major as cuBLAS, one thread per element of
// C, fp32 accumulation. Slow, and only ever a fallback.
extern "C" __global__ void gemm_fallback(act* C, const act* A, const act* B, const act* bias, int m, int n, int k,
                                         int lda, int ldb, int ldc, int transA, int transB, float beta) {
    GRID_FOR(e, (long long)m * n) {
        int i = (int)(e % m), j = (int)(e / m);
        float s = 0.0f;
        for (int p = 0; p < k; p++) {
            float a = transA ? ld(A, (long long)i * lda + p) : ld(A, (long long)p * lda + i);
            float b = transB ? ld(B, (long long)p * ldb + j) : ld(B, (long long)j * ldb + p);
            s += a * b;
        }
        long long at = (long long)j * ldc + i;
        if (beta != 0.0f) s += beta * ld(C, at);
        if (bias != 0) s += ld(bias, i);
        st(C, at, s);
    }
}

// Fused multi-head self-attention over CLIP's packed projections: qkv
// [B,T,3C] holds each token's query, key and value side by side, head h
// using columns [h·hs, (h+1)·hs) of each (hs = C/NH ≤ 128). The softmax
// probabilities P [B,NH,T,T] are the saved state of the backward pass.
//
// Every kernel puts one warp on one row (a query row, or a key row for the
// key/value gradients), ATT_WARPS rows to a block, and streams the other
// operand through shared memory ATT_TILE rows at a time, padded to hs+1
// floats so that lanes reading different rows hit different banks. Scores
// and their gradients stay in fp32. The Go side sizes the dynamic shared
// memory with the same formulas (attentionSmem*).

#define ATT_WARPS 8
#define ATT_TILE 32
#define ATT_MAX_DIMS_PER_LANE 4

// att_row locates the saved row of (b, h, t).
GRID_DEVICE long long att_row(int b, int h, int t, int NH, int T) { return (((long long)b * NH + h) * T + t) * T; }

// load_tile copies rows [k0, k0+n) of one qkv part (part 0 q, 1 k, 2 v) of
// head h into tile [n][hs+1], as fp32. All threads of the block call it.
GRID_DEVICE void load_tile(float* tile, const act* head, int part, int k0, int n, int hs, int C) {
    for (int e = threadIdx.x; e < n * hs; e += blockDim.x) {
        int j = e / hs, d = e - j * hs;
        tile[j * (hs + 1) + d] = ld(head, (long long)(k0 + j) * 3 * C + (long long)part * C + d);
    }
}

// load_rows copies rows [i0, i0+n) of a [*,C] tensor's head columns into
// tile [n][hs+1]. All threads of the block call it.
GRID_DEVICE void load_rows(float* tile, const act* head, int i0, int n, int hs, int C) {
    for (int e = threadIdx.x; e < n * hs; e += blockDim.x) {
        int j = e / hs, d = e - j * hs;
        tile[j * (hs + 1) + d] = ld(head, (long long)(i0 + j) * C + d);
    }
}

// Grid (ceil(T/ATT_WARPS), NH, B), ATT_WARPS warps. Shared memory: per warp
// its query row [hs] and score row [T], then one tile.
extern "C" __global__ void attention_forward(act* out, act* att, const act* qkv, int B, int T, int C, int NH,
                                             int causal) {
    int hs = C / NH, h = blockIdx.y, b = blockIdx.z, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int t = blockIdx.x * ATT_WARPS + warp;
    bool valid = t < T;
    int last = min(T, (int)(blockIdx.x + 1) * ATT_WARPS) - 1;
    int keys = causal ? last + 1 : T;  // keys any row of this block attends to
    float scale = rsqrtf((float)hs);
    GRID_DYNAMIC_SMEM(float, smem);
    float* q = smem + warp * hs;
    float* sc = smem + ATT_WARPS * hs + warp * T;
    float* tile = smem + ATT_WARPS * (hs + T);
    const act* head = qkv + (long long)b * T * 3 * C + h * hs;

    if (valid)
        for (int d = lane; d < hs; d += 32) q[d] = ld(head, (long long)t * 3 * C + d);
    for (int k0 = 0; k0 < keys; k0 += ATT_TILE) {  // scores, one key per lane
        int n = min(ATT_TILE, keys - k0);
        __syncthreads();
        load_tile(tile, head, 1, k0, n, hs, C);
        __syncthreads();
        if (valid && lane < n) {
            const float* k = tile + lane * (hs + 1);
            float s = 0.0f;
            for (int d = 0; d < hs; d++) s += q[d] * k[d];
            sc[k0 + lane] = (causal && k0 + lane > t) ? -GRID_INFINITY : s * scale;
        }
    }
    __syncthreads();
    if (valid) {  // softmax in place, saved as P
        float mx = -GRID_INFINITY;
        for (int j = lane; j < keys; j += 32) mx = fmaxf(mx, sc[j]);
        mx = warp_max(mx);
        float sum = 0.0f;
        for (int j = lane; j < keys; j += 32) {
            float e = expf(sc[j] - mx);
            sc[j] = e;
            sum += e;
        }
        float inv = 1.0f / warp_sum(sum);
        act* p = att + att_row(b, h, t, NH, T);
        for (int j = lane; j < T; j += 32) {
            float v = j < keys ? sc[j] * inv : 0.0f;
            if (j < keys) sc[j] = v;
            st(p, j, v);
        }
    }
    float acc[ATT_MAX_DIMS_PER_LANE] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int k0 = 0; k0 < keys; k0 += ATT_TILE) {  // out = P·V, dims across lanes
        int n = min(ATT_TILE, keys - k0);
        __syncthreads();
        load_tile(tile, head, 2, k0, n, hs, C);
        __syncthreads();
        if (valid)
            for (int j = 0; j < n; j++) {
                float p = sc[k0 + j];
                const float* v = tile + j * (hs + 1);
                for (int i = 0; i < ATT_MAX_DIMS_PER_LANE; i++)
                    if (lane + 32 * i < hs) acc[i] += p * v[lane + 32 * i];
            }
    }
    if (valid) {
        act* o = out + ((long long)b * T + t) * C + h * hs;
        for (int i = 0; i < ATT_MAX_DIMS_PER_LANE; i++)
            if (lane + 32 * i < hs) st(o, lane + 32 * i, acc[i]);
    }
}

// attention_backward_query, per query row i: dP = dO·Vᵀ, D = Σ P·dP,
// dS = P·(dP − D) (kept in dscores [B,NH,T,T] for the key pass), and
// dq += scale·dS·K. Grid and warps as the forward; shared memory: per warp
// its dO row [hs], P/dS row [T] and dP row [T], then one tile.
extern "C" __global__ void attention_backward_query(act* dqkv, float* dscores, const act* dout, const act* qkv,
                                                    const act* att, int B, int T, int C, int NH, int causal) {
    int hs = C / NH, h = blockIdx.y, b = blockIdx.z, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int t = blockIdx.x * ATT_WARPS + warp;
    bool valid = t < T;
    int last = min(T, (int)(blockIdx.x + 1) * ATT_WARPS) - 1;
    int keys = causal ? last + 1 : T;
    float scale = rsqrtf((float)hs);
    GRID_DYNAMIC_SMEM(float, smem);
    float* dO = smem + warp * hs;
    float* ds = smem + ATT_WARPS * hs + warp * 2 * T;
    float* dp = ds + T;
    float* tile = smem + ATT_WARPS * (hs + 2 * T);
    const act* head = qkv + (long long)b * T * 3 * C + h * hs;
    const act* P = att + att_row(b, h, valid ? t : 0, NH, T);

    if (valid) {
        for (int d = lane; d < hs; d += 32) dO[d] = ld(dout, ((long long)b * T + t) * C + h * hs + d);
        for (int j = lane; j < keys; j += 32) ds[j] = ld(P, j);
    }
    for (int k0 = 0; k0 < keys; k0 += ATT_TILE) {  // dP, one key per lane
        int n = min(ATT_TILE, keys - k0);
        __syncthreads();
        load_tile(tile, head, 2, k0, n, hs, C);
        __syncthreads();
        if (valid && lane < n) {
            const float* v = tile + lane * (hs + 1);
            float s = 0.0f;
            for (int d = 0; d < hs; d++) s += dO[d] * v[d];
            dp[k0 + lane] = s;
        }
    }
    __syncthreads();
    if (valid) {
        float sd = 0.0f;
        for (int j = lane; j < keys; j += 32) sd += ds[j] * dp[j];
        float D = warp_sum(sd);
        float* out = dscores + att_row(b, h, t, NH, T);
        for (int j = lane; j < T; j += 32) {
            float v = j < keys ? ds[j] * (dp[j] - D) : 0.0f;
            if (j < keys) ds[j] = v;
            out[j] = v;
        }
    }
    float acc[ATT_MAX_DIMS_PER_LANE] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int k0 = 0; k0 < keys; k0 += ATT_TILE) {  // dq = dS·K, dims across lanes
        int n = min(ATT_TILE, keys - k0);
        __syncthreads();
        load_tile(tile, head, 1, k0, n, hs, C);
        __syncthreads();
        if (valid)
            for (int j = 0; j < n; j++) {
                float s = ds[k0 + j];
                const float* k = tile + j * (hs + 1);
                for (int i = 0; i < ATT_MAX_DIMS_PER_LANE; i++)
                    if (lane + 32 * i < hs) acc[i] += s * k[lane + 32 * i];
            }
    }
    if (valid) {
        act* dq = dqkv + ((long long)b * T + t) * 3 * C + h * hs;
        for (int i = 0; i < ATT_MAX_DIMS_PER_LANE; i++) {
            int d = lane + 32 * i;
            if (d < hs) st(dq, d, ld(dq, d) + scale * acc[i]);
        }
    }
}

// attention_backward_keys, per key row j: dk += scale·Σ_i dS[i,j]·q_i and
// dv += Σ_i P[i,j]·dO_i, over the query rows i that can see key j. Grid
// (ceil(T/ATT_WARPS), NH, B); shared memory: a q tile and a dO tile, then
// the block's columns of dS and P for the tile's rows ([ATT_TILE][ATT_WARPS]
// each).
extern "C" __global__ void attention_backward_keys(act* dqkv, const float* dscores, const act* dout, const act* qkv,
                                                   const act* att, int B, int T, int C, int NH, int causal) {
    int hs = C / NH, h = blockIdx.y, b = blockIdx.z, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int j0 = blockIdx.x * ATT_WARPS, j = j0 + warp;
    bool valid = j < T;
    int first = causal ? j0 : 0;  // earlier query rows cannot see this block's keys
    float scale = rsqrtf((float)hs);
    GRID_DYNAMIC_SMEM(float, smem);
    float* qt = smem;
    float* dot = qt + ATT_TILE * (hs + 1);
    float* dsT = dot + ATT_TILE * (hs + 1);
    float* pT = dsT + ATT_TILE * ATT_WARPS;
    const act* head = qkv + (long long)b * T * 3 * C + h * hs;
    const act* dhead = dout + (long long)b * T * C + h * hs;
    long long bh = (long long)b * NH + h;

    float ak[ATT_MAX_DIMS_PER_LANE] = {0.0f, 0.0f, 0.0f, 0.0f};
    float av[ATT_MAX_DIMS_PER_LANE] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int i0 = first; i0 < T; i0 += ATT_TILE) {
        int n = min(ATT_TILE, T - i0);
        __syncthreads();
        load_tile(qt, head, 0, i0, n, hs, C);
        load_rows(dot, dhead, i0, n, hs, C);
        for (int e = threadIdx.x; e < n * ATT_WARPS; e += blockDim.x) {
            int i = e / ATT_WARPS, jj = e - i * ATT_WARPS;
            bool in = j0 + jj < T;
            long long at = (bh * T + i0 + i) * T + j0 + jj;
            dsT[e] = in ? dscores[at] : 0.0f;
            pT[e] = in ? ld(att, at) : 0.0f;
        }
        __syncthreads();
        if (valid)
            for (int i = 0; i < n; i++) {
                float s = dsT[i * ATT_WARPS + warp], p = pT[i * ATT_WARPS + warp];
                const float* q = qt + i * (hs + 1);
                const float* g = dot + i * (hs + 1);
                for (int k = 0; k < ATT_MAX_DIMS_PER_LANE; k++) {
                    int d = lane + 32 * k;
                    if (d < hs) {
                        ak[k] += s * q[d];
                        av[k] += p * g[d];
                    }
                }
            }
    }
    if (valid) {
        act* dk = dqkv + ((long long)b * T + j) * 3 * C + C + h * hs;
        act* dv = dk + C;
        for (int k = 0; k < ATT_MAX_DIMS_PER_LANE; k++) {
            int d = lane + 32 * k;
            if (d < hs) {
                st(dk, d, ld(dk, d) + scale * ak[k]);
                st(dv, d, ld(dv, d) + av[k]);
            }
        }
    }
}

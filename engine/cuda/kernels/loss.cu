// The heads: L2 normalisation of features and the cross-entropy of the
// logits. One warp per row, GRID_ROW_WARPS rows per block; sums in fp32.

// l2norm_forward: out = x/‖x‖, norm = ‖x‖. No epsilon: an all-zero row gives
// NaN, as CLIP's x / x.norm(dim=-1) does.
extern "C" __global__ void l2norm_forward(act* out, act* norm, const act* inp, int rows, int dim) {
    int row = GRID_WARP_ROW(), lane = GRID_LANE();
    if (row >= rows) return;
    const act* x = inp + (long long)row * dim;
    float s = 0.0f;
    for (int i = lane; i < dim; i += 32) {
        float v = ld(x, i);
        s += v * v;
    }
    float n = sqrtf(warp_sum(s)), inv = 1.0f / n;
    for (int i = lane; i < dim; i += 32) st(out, (long long)row * dim + i, ld(x, i) * inv);
    if (lane == 0) st(norm, row, n);
}

// l2norm_backward: dx += (dy − y·(y·dy))/‖x‖.
extern "C" __global__ void l2norm_backward(act* dinp, const act* dout, const act* out, const act* norm, int rows,
                                           int dim) {
    int row = GRID_WARP_ROW(), lane = GRID_LANE();
    if (row >= rows) return;
    long long o = (long long)row * dim;
    float s = 0.0f;
    for (int i = lane; i < dim; i += 32) s += ld(out, o + i) * ld(dout, o + i);
    float yd = warp_sum(s), inv = 1.0f / ld(norm, row);
    for (int i = lane; i < dim; i += 32) st(dinp, o + i, ld(dinp, o + i) + (ld(dout, o + i) - ld(out, o + i) * yd) * inv);
}

// cross_entropy_forward: probs = softmax(logits) per row, losses[b] =
// −log p[label]. A label outside [0,classes) gives a NaN loss.
extern "C" __global__ void cross_entropy_forward(act* losses, act* probs, const act* logits, const int* labels,
                                                 int batch, int classes) {
    int row = GRID_WARP_ROW(), lane = GRID_LANE();
    if (row >= batch) return;
    long long o = (long long)row * classes;
    float mx = -GRID_INFINITY;
    for (int i = lane; i < classes; i += 32) mx = fmaxf(mx, ld(logits, o + i));
    mx = warp_max(mx);
    float s = 0.0f;
    for (int i = lane; i < classes; i += 32) s += expf(ld(logits, o + i) - mx);
    float logSum = mx + logf(warp_sum(s));
    for (int i = lane; i < classes; i += 32) st(probs, o + i, expf(ld(logits, o + i) - logSum));
    if (lane == 0) {
        int y = labels[row];
        st(losses, row, (y >= 0 && y < classes) ? logSum - ld(logits, o + y) : __int_as_float(0x7fc00000));
    }
}

// cross_entropy_backward: dlogits += dloss·(probs − onehot(label))/batch.
extern "C" __global__ void cross_entropy_backward(act* dlogits, const act* probs, const int* labels, int batch,
                                                  int classes, float dloss) {
    float scale = dloss / (float)batch;
    GRID_FOR(e, (long long)batch * classes) {
        int b = (int)(e / classes), c = (int)(e - (long long)b * classes);
        float g = scale * ld(probs, e);
        if (c == labels[b]) g -= scale;
        st(dlogits, e, ld(dlogits, e) + g);
    }
}

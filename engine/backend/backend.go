// Package backend is the seam between the CLIP model and the hardware it runs
// on: one interface, Backend, at the level of the operations CLIP's two
// towers and the DPT objective use, with one implementation per subfolder of
// engine (engine/cpu, engine/cuda) and one conformance suite
// (backend/backendtest) that every implementation passes.
//
// The operations are forward/backward pairs over flat buffers with explicit
// shapes, in the style of llm.c, so the same call sequence runs on a CPU or a
// GPU. Buffers are opaque, in the style of ggml's backend buffers: the host
// never sees a Buffer's memory, and data moves only through Upload and
// Download. That is what lets a GPU backend keep every tensor of a training
// step in device memory, and store it at lower precision if it chooses.
//
// # Buffers
//
// A Buffer holds Len elements of one DType. Float32 buffers are float32
// logically: Upload takes and Download returns []float32, and a backend may
// store them in another format (fp16, bf16) as long as its results stay
// within the conformance suite's tolerances. Int32 buffers hold integer
// data a step needs on the device: token ids, labels, row indices.
//
// A sub-range of a buffer is a view (Backend.View), never a Go slice. Views
// share memory with their parent; writing through one is seen by the other.
// Only buffers from Alloc are freed; a view must not be used after its parent
// is freed.
//
// # Conventions shared by every operation
//
//   - Shapes are passed explicitly, in elements. A buffer may be longer than
//     an operation needs, never shorter, and must have the DType the
//     operation documents (Int32 for ids, labels and row indices; Float32
//     for everything else). Misuse panics with a message naming the
//     operation: it is a programming error, not a condition to handle.
//   - Matrices are row-major. A weight W [out,in] is laid out like a
//     PyTorch Linear weight, and matmuls compute x·Wᵀ (+ b).
//   - Forward operations overwrite their outputs.
//   - Backward operations ADD into their gradient outputs (dx += ...), so a
//     tensor feeding two consumers (a residual stream, a shared prompt)
//     collects both contributions; callers zero gradient buffers first. A
//     nil gradient output means "not wanted" and costs nothing (frozen
//     weights, inputs that need no gradient).
//   - Outputs never alias inputs, except where an operation says so.
//   - Operations may run asynchronously (a GPU queues them in order). A
//     Download waits for every operation before it, and reports a device
//     failure of any of them; operations themselves return no errors.
//   - A row of a result does not depend on how many rows the call has: a
//     row of a matmul, LayerNorm or causal attention output is the same,
//     up to rounding, whether it is computed alone or with others (the CPU
//     backend makes it bit-identical). The CLIP text tower relies on that
//     to stop each sequence at its end-of-text token.
package backend

import "fmt"

// DType is the element type of a Buffer.
type DType uint8

const (
	// Float32 buffers hold activations, weights and gradients.
	Float32 DType = iota + 1
	// Int32 buffers hold token ids, class labels and row indices.
	Int32
)

func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Int32:
		return "int32"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Buffer is a backend's opaque handle to Len elements of one DType. Only the
// backend that made a buffer may use it.
type Buffer interface {
	Len() int
	DType() DType
}

// Backend runs the operations of CLIP's towers on one device. A Backend is
// safe for use by one goroutine at a time; the model gives each pass its own
// buffers.
type Backend interface {
	// Name is the registry name ("cpu", "cuda").
	Name() string
	// Device describes the hardware in a line, for logs and the worker's
	// Info: "AMD EPYC 9B45 (AVX-512), 2 threads".
	Device() string

	// --- Memory.

	// Alloc returns a zeroed buffer of n elements (n may be 0). It fails
	// only when the device is out of memory.
	Alloc(dtype DType, n int) (Buffer, error)
	// Free releases a buffer from Alloc; nil is a no-op. Freeing a view
	// panics.
	Free(b Buffer)
	// View is elements [offset, offset+n) of b, sharing its memory. b may
	// itself be a view.
	View(b Buffer, offset, n int) Buffer
	// Upload copies src into the first len(src) elements of a Float32 dst.
	Upload(dst Buffer, src []float32)
	// UploadInt32 copies src into the first len(src) elements of an Int32
	// dst.
	UploadInt32(dst Buffer, src []int32)
	// Download copies the first len(dst) elements of a Float32 src to dst,
	// after every operation queued before it has finished.
	Download(dst []float32, src Buffer) error
	// DownloadInt32 is Download for Int32 buffers.
	DownloadInt32(dst []int32, src Buffer) error
	// Zero sets every element of b (either DType) to zero.
	Zero(b Buffer)
	// Copy copies src into the first src.Len() elements of dst (same
	// DType).
	Copy(dst, src Buffer)

	// --- Dense layers.

	// MatmulForward computes out[rows,outDim] = inp[rows,inDim]·weightᵀ +
	// bias, with weight [outDim,inDim]; bias [outDim] may be nil.
	MatmulForward(out, inp, weight, bias Buffer, rows, inDim, outDim int)
	// MatmulBackward adds dinp += dout·weight, dweight += doutᵀ·inp and
	// dbias += Σ_rows dout; any of the three may be nil. inp may be nil
	// when dweight is.
	MatmulBackward(dinp, dweight, dbias, dout, inp, weight Buffer, rows, inDim, outDim int)

	// LayerNormForward normalises each row of inp [rows,dim] to zero mean
	// and unit biased variance (eps 1e-5, PyTorch's default), then scales by
	// weight and shifts by bias ([dim] each). mean and rstd ([rows],
	// 1/sqrt(var+eps)) are saved for the backward pass.
	LayerNormForward(out, mean, rstd, inp, weight, bias Buffer, rows, dim int)
	// LayerNormBackward adds the input gradient of LayerNormForward to dinp
	// and, unless nil, the weight and bias gradients to dweight and dbias.
	LayerNormBackward(dinp, dweight, dbias, dout, inp, weight, mean, rstd Buffer, rows, dim int)

	// AttentionSavedLen is the length of the Float32 buffer
	// AttentionForward saves for its backward pass (the softmax
	// probabilities [B,NH,T,T] on the CPU; a fused kernel may keep less).
	AttentionSavedLen(B, T, C, NH int) int
	// AttentionForward is the core of multi-head self-attention between
	// CLIP's packed input projection and its output projection. qkv [B,T,3C]
	// holds per token the query, key and value vectors side by side; head h
	// uses columns [h·C/NH, (h+1)·C/NH) of each. out [B,T,C] receives the
	// heads' outputs concatenated; saved (AttentionSavedLen elements)
	// receives what the backward pass needs. Scores are scaled by
	// 1/sqrt(C/NH); with causal set, token t attends to tokens 0..t only.
	AttentionForward(out, saved, qkv Buffer, B, T, C, NH int, causal bool)
	// AttentionBackward adds to dqkv [B,T,3C] the gradient of
	// AttentionForward with respect to its queries, keys and values.
	AttentionBackward(dqkv, dout, qkv, saved Buffer, B, T, C, NH int, causal bool)

	// --- Elementwise, over the first n elements. out may alias an input.

	// QuickGELUForward computes out = x·σ(1.702x).
	QuickGELUForward(out, inp Buffer, n int)
	// QuickGELUBackward adds dout·d/dx[x·σ(1.702x)] to dinp.
	QuickGELUBackward(dinp, inp, dout Buffer, n int)
	// Add computes out = a + b (the residual connection).
	Add(out, a, b Buffer, n int)
	// Accumulate computes dst += src (the residual connection's backward,
	// once per branch).
	Accumulate(dst, src Buffer, n int)
	// Scale computes out = alpha·inp.
	Scale(out, inp Buffer, alpha float32, n int)

	// --- Heads and the loss.

	// L2NormalizeForward divides each row of inp [rows,dim] by its
	// Euclidean norm, saved in norm [rows]. No epsilon: an all-zero row
	// gives NaN, as CLIP's x / x.norm(dim=-1) does.
	L2NormalizeForward(out, norm, inp Buffer, rows, dim int)
	// L2NormalizeBackward adds (dout − y·(y·dout))/‖x‖ to dinp, given the
	// forward's output y = out and saved norm.
	L2NormalizeBackward(dinp, dout, out, norm Buffer, rows, dim int)
	// CrossEntropyForward applies a softmax to each row of logits
	// [batch,classes] (saved in probs) and writes each row's −log p[label]
	// to losses [batch]; labels is Int32 [batch]. The loss of the batch is
	// the mean of losses (PyTorch's F.cross_entropy). A label outside
	// [0,classes) is a programming error: the CPU backend panics, a device
	// backend may give NaN.
	CrossEntropyForward(losses, probs, logits, labels Buffer, batch, classes int)
	// CrossEntropyBackward adds dloss·(probs − onehot(label))/batch to
	// dlogits: the gradient of dloss times the mean loss.
	CrossEntropyBackward(dlogits, probs, labels Buffer, batch, classes int, dloss float32)

	// --- Row operations (the host loops of a pure-Go model, on the device).

	// GatherRows copies row rows[i] of src [*,dim] to row i of dst [n,dim],
	// for i < n; rows is Int32 [n]. It looks up token embeddings and picks
	// the end-of-text and class-token rows out of a residual stream.
	GatherRows(dst, src, rows Buffer, n, dim int)
	// ScatterAddRows adds row i of src [n,dim] to row rows[i] of dst, for
	// i < n: the backward of GatherRows. rows may repeat; their
	// contributions are summed.
	ScatterAddRows(dst, src, rows Buffer, n, dim int)
	// EmbedTokensForward builds the text tower's input [seqs,T,dim]: row
	// (s,t) is table[ids[s·T+t]] + pos[t], except that with ctx non-nil the
	// rows t = 1..nCtx (the DPT context slots after the start-of-text
	// token) take ctx[t−1] [nCtx,dim] in place of the token embedding. ids
	// is Int32 [seqs,T]; table is [vocab,dim]; pos is [≥T,dim].
	EmbedTokensForward(out, ids, table, pos, ctx Buffer, seqs, T, dim, nCtx int)
	// EmbedTokensBackward adds to dctx [nCtx,dim] the gradient of the
	// context slots, summed over the sequences: dctx[j] += Σ_s
	// dout[s,1+j].
	EmbedTokensBackward(dctx, dout Buffer, seqs, T, dim, nCtx int)
	// Patchify cuts images [batch,channels,size,size] (CHW, row-major)
	// into out [batch·(size/patch)², channels·patch·patch], one row per
	// patch in row-major grid order, each in (channel, row, column) order:
	// the layout that makes a stride-patch convolution a matmul with its
	// weight flattened.
	Patchify(out, images Buffer, batch, channels, size, patch int)
	// EmbedPatchesForward builds the ViT's input [batch,T,dim] with T =
	// 1+P+nExtra: row 0 of each image is class + pos[0]; rows 1..P are the
	// patch embeddings patches [batch,P,dim] plus pos[1..P]; the last nExtra
	// rows are extra [nExtra,dim] (visual prompts, the same for every
	// image, no positional embedding; nil when nExtra is 0).
	EmbedPatchesForward(out, patches, class, pos, extra Buffer, batch, P, nExtra, dim int)
	// EmbedPatchesBackward adds to dextra [nExtra,dim] the gradient of the
	// extra rows summed over the batch: dextra[j] += Σ_b dout[b,1+P+j].
	EmbedPatchesBackward(dextra, dout Buffer, batch, P, nExtra, dim int)

	// --- Optimiser.

	// SGDStep is one step of torch.optim.SGD (no dampening, no Nesterov)
	// on n parameters, in float32 with every product rounded before it is
	// added (no fused multiply-add), as torch's separate kernels do:
	//
	//	g ← grad + weightDecay·param
	//	if momentum ≠ 0: velocity ← g on the first step (first set), else
	//	                 velocity ← momentum·velocity + g; then g ← velocity
	//	param ← param − lr·g
	//
	// velocity may be nil when momentum is 0.
	SGDStep(param, grad, velocity Buffer, n int, lr, momentum, weightDecay float32, first bool)
	// AdamWStep is step number step (1 for the first) of torch.optim.AdamW
	// (no amsgrad) on n parameters, with m and v the running first and
	// second moments of the gradient (zero before the first step):
	//
	//	param ← param − lr·weightDecay·param
	//	m ← beta1·m + (1−beta1)·grad
	//	v ← beta2·v + (1−beta2)·grad²
	//	param ← param − lr/(1−beta1^step) · m / (sqrt(v)/sqrt(1−beta2^step) + eps)
	//
	// in float32, to within rounding (unlike SGDStep, not to the bit). It
	// pre-trains the demo model's towers.
	AdamWStep(param, grad, m, v Buffer, n int, lr, beta1, beta2, eps, weightDecay float32, step int)
}

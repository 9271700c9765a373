package torchscript

import (
	"fmt"
	"strings"

	"github.com/fomo-grid/grid/engine/pickle"
)

// The pickles of torch.save (protocol 2) and torch.jit.save run through
// engine/pickle's VM; this file tells it what PyTorch's functions build:
// storages (persistent ids), tensor views of them, and the typed containers
// of TorchScript.

// storage is a reference to the bytes of one typed storage, stored in the
// archive's data/<key> record.
type storage struct {
	dtype string // PyTorch's storage prefix: "Float", "Half", "BFloat16", …
	key   string
	numel int64 // elements, as recorded by the writer
}

// tensorRef is a view of a storage: element (i0,i1,…) is
// storage[offset + Σ i_k·stride_k].
type tensorRef struct {
	storage *storage
	offset  int64
	size    []int64
	stride  []int64
}

// unpickle runs a torch pickle; loadID answers its persistent ids.
func unpickle(data []byte, loadID func(pid any) (any, error)) (any, error) {
	return pickle.Unpickle(data, pickle.Options{PersistentLoad: loadID, Call: callTorch, Build: buildTensor})
}

// callTorch interprets the PyTorch functions a checkpoint calls.
func callTorch(g pickle.Global, args pickle.Tuple) (any, bool, error) {
	switch g.String() {
	case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
		// (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]])
		v, err := rebuildTensor(g, args)
		return v, true, err
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		// (data, requires_grad, backward_hooks[, state]): the tensor itself.
		if len(args) < 1 {
			return nil, true, fmt.Errorf("%s called without arguments", g)
		}
		if _, ok := args[0].(*tensorRef); !ok {
			return nil, true, fmt.Errorf("%s of a %s, not a tensor", g, describe(args[0]))
		}
		return args[0], true, nil
	case "torch.jit._pickle.build_intlist", "torch.jit._pickle.build_tensorlist",
		"torch.jit._pickle.build_doublelist", "torch.jit._pickle.build_boollist",
		"torch.jit._pickle.build_genericlist", "torch.jit._pickle.restore_type_tag":
		// TorchScript's typed containers: the value is the first argument.
		if len(args) < 1 {
			return nil, true, fmt.Errorf("%s called without arguments", g)
		}
		return args[0], true, nil
	}
	if g.Module == "torch._utils" || g.Module == "torch" && strings.HasPrefix(g.Name, "_rebuild") {
		// Quantised, sparse, nested or new-dtype tensors: refusing is better
		// than silently dropping a tensor.
		return nil, true, fmt.Errorf("unsupported tensor kind %s (only dense tensors of typed storages are read)", g)
	}
	return nil, false, nil
}

// buildTensor ignores BUILD's state on a tensor (Parameter flags).
func buildTensor(target, state any) error {
	if _, ok := target.(*tensorRef); ok {
		return nil
	}
	return fmt.Errorf("BUILD on a %s", describe(target))
}

func rebuildTensor(g pickle.Global, args pickle.Tuple) (any, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("%s called with %d arguments, want at least 4", g, len(args))
	}
	st, ok := args[0].(*storage)
	if !ok {
		return nil, fmt.Errorf("%s of a %s, not a storage", g, describe(args[0]))
	}
	offset, ok := args[1].(int64)
	if !ok {
		return nil, fmt.Errorf("%s with storage offset %s, not an integer", g, describe(args[1]))
	}
	size, err := intTuple(args[2])
	if err != nil {
		return nil, fmt.Errorf("%s size: %w", g, err)
	}
	stride, err := intTuple(args[3])
	if err != nil {
		return nil, fmt.Errorf("%s stride: %w", g, err)
	}
	return &tensorRef{storage: st, offset: offset, size: size, stride: stride}, nil
}

func intTuple(v any) ([]int64, error) {
	var items []any
	switch v := v.(type) {
	case pickle.Tuple:
		items = v
	case *pickle.List:
		items = v.Items
	default:
		return nil, fmt.Errorf("a %s, not a tuple of integers", describe(v))
	}
	out := make([]int64, len(items))
	for i, it := range items {
		n, ok := it.(int64)
		if !ok {
			return nil, fmt.Errorf("element %d is a %s, not an integer", i, describe(it))
		}
		out[i] = n
	}
	return out, nil
}

// describe names a value for error messages, storages and tensors included.
func describe(v any) string {
	switch v := v.(type) {
	case *storage:
		return v.dtype + "Storage"
	case *tensorRef:
		return "tensor"
	}
	return pickle.Describe(v)
}

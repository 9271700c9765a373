package torchscript

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The pickle virtual machine below understands the opcodes of protocols 0–4
// that carry data (both Python's pickler, which torch.save drives at
// protocol 2, and TorchScript's C++ pickler emit only these). It never runs
// code: a class reference (GLOBAL) is a name, calling it (REDUCE, NEWOBJ) is
// interpreted for the few functions tensors need, and builds an inert
// object for anything else.

// global is a class or function reference, module.name.
type global struct{ module, name string }

func (g global) String() string { return g.module + "." + g.name }

// tuple is an immutable Python tuple.
type tuple []any

// list is a mutable Python list (APPEND mutates it after it is memoised).
type list struct{ items []any }

// dict is an insertion-ordered Python dict (or OrderedDict) with hashable
// scalar keys.
type dict struct {
	keys   []any
	values []any
	index  map[any]int
}

func newDict() *dict { return &dict{index: map[any]int{}} }

func (d *dict) set(k, v any) error {
	hk, err := hashKey(k)
	if err != nil {
		return err
	}
	if i, ok := d.index[hk]; ok {
		d.values[i] = v
		return nil
	}
	d.index[hk] = len(d.keys)
	d.keys = append(d.keys, k)
	d.values = append(d.values, v)
	return nil
}

// hashKey turns a dict key into a comparable Go value. Tuples (allowed as
// Python keys) are spelled out as a string; lists and dicts are unhashable
// in Python too.
func hashKey(k any) (any, error) {
	switch k := k.(type) {
	case nil, bool, int64, float64, string:
		return k, nil
	case []byte:
		return "b:" + string(k), nil
	case tuple:
		return fmt.Sprintf("tuple:%#v", k), nil
	}
	return nil, fmt.Errorf("unhashable dict key of type %T", k)
}

// object is an instance of a class the VM does not interpret: a TorchScript
// module (__torch__.*) or any other pickled Python object. args are its
// constructor arguments, state what BUILD gave it (for a module, the dict
// of its attributes: parameters, buffers, submodules, plain values).
type object struct {
	class global
	args  tuple
	state any
}

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

// unpickler is the VM state. marks are stack heights saved by MARK.
type unpickler struct {
	data   []byte
	pos    int
	stack  []any
	marks  []int
	memo   map[int64]any
	loadID func(pid any) (any, error) // BINPERSID handler
}

// opcodeNames names the opcodes this VM rejects, for the error message.
var opcodeNames = map[byte]string{
	'o': "OBJ", 'i': "INST", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4",
	'P': "PERSID", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
}

// unpickle runs data through the VM and returns the value STOP finds.
func unpickle(data []byte, loadID func(pid any) (any, error)) (any, error) {
	u := &unpickler{data: data, memo: map[int64]any{}, loadID: loadID}
	for {
		if u.pos >= len(u.data) {
			return nil, fmt.Errorf("pickle ends at byte %d without a STOP opcode", u.pos)
		}
		at := u.pos
		op := u.data[u.pos]
		u.pos++
		done, err := u.step(op)
		if err != nil {
			return nil, fmt.Errorf("pickle opcode 0x%02x at byte %d: %w", op, at, err)
		}
		if done {
			if len(u.stack) != 1 {
				return nil, fmt.Errorf("pickle STOP at byte %d leaves %d values on the stack, want 1", at, len(u.stack))
			}
			return u.stack[0], nil
		}
	}
}

func (u *unpickler) read(n int) ([]byte, error) {
	if n < 0 || u.pos+n > len(u.data) {
		return nil, fmt.Errorf("needs %d bytes, %d left (truncated pickle)", n, len(u.data)-u.pos)
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

func (u *unpickler) readLine() (string, error) {
	i := bytes.IndexByte(u.data[u.pos:], '\n')
	if i < 0 {
		return "", fmt.Errorf("no end of line (truncated pickle)")
	}
	s := string(u.data[u.pos : u.pos+i])
	u.pos += i + 1
	return s, nil
}

func (u *unpickler) readUint(n int) (uint64, error) {
	b, err := u.read(n)
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

func (u *unpickler) pop() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) == u.marks[len(u.marks)-1]) {
		return nil, fmt.Errorf("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) == 0 {
		return nil, fmt.Errorf("stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark returns the values pushed since the last MARK and removes them
// and the mark.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, fmt.Errorf("no MARK on the stack")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) popN(n int) ([]any, error) {
	items := make([]any, n)
	for i := n - 1; i >= 0; i-- {
		v, err := u.pop()
		if err != nil {
			return nil, err
		}
		items[i] = v
	}
	return items, nil
}

func (u *unpickler) memoGet(idx int64) error {
	v, ok := u.memo[idx]
	if !ok {
		return fmt.Errorf("memo index %d was never stored", idx)
	}
	u.push(v)
	return nil
}

func (u *unpickler) memoPut(idx int64) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	u.memo[idx] = v
	return nil
}

// step executes one opcode; done is true at STOP.
func (u *unpickler) step(op byte) (done bool, err error) {
	switch op {
	case 0x80: // PROTO
		p, err := u.readUint(1)
		if err != nil {
			return false, err
		}
		if p > 5 {
			return false, fmt.Errorf("pickle protocol %d is newer than 5", p)
		}
	case 0x95: // FRAME: a length prefix only; the data follows inline.
		_, err = u.read(8)
	case '.': // STOP
		return true, nil

	case '(': // MARK
		u.marks = append(u.marks, len(u.stack))
	case '0': // POP
		_, err = u.pop()
	case '1': // POP_MARK
		_, err = u.popMark()
	case '2': // DUP
		var v any
		if v, err = u.top(); err == nil {
			u.push(v)
		}

	case 'N':
		u.push(nil)
	case 0x88:
		u.push(true)
	case 0x89:
		u.push(false)
	case 'K': // BININT1
		var v uint64
		if v, err = u.readUint(1); err == nil {
			u.push(int64(v))
		}
	case 'M': // BININT2
		var v uint64
		if v, err = u.readUint(2); err == nil {
			u.push(int64(v))
		}
	case 'J': // BININT: signed 32-bit
		var v uint64
		if v, err = u.readUint(4); err == nil {
			u.push(int64(int32(uint32(v))))
		}
	case 0x8a, 0x8b: // LONG1, LONG4: little-endian two's complement
		width := 1
		if op == 0x8b {
			width = 4
		}
		var n uint64
		if n, err = u.readUint(width); err != nil {
			return false, err
		}
		var b []byte
		if b, err = u.read(int(n)); err != nil {
			return false, err
		}
		var v int64
		if v, err = decodeLong(b); err == nil {
			u.push(v)
		}
	case 'I': // INT (text); protocol 0 spells booleans I00/I01
		var s string
		if s, err = u.readLine(); err != nil {
			return false, err
		}
		switch s {
		case "00":
			u.push(false)
		case "01":
			u.push(true)
		default:
			var v int64
			if v, err = strconv.ParseInt(s, 10, 64); err == nil {
				u.push(v)
			}
		}
	case 'L': // LONG (text), with a trailing L
		var s string
		if s, err = u.readLine(); err != nil {
			return false, err
		}
		var v int64
		if v, err = strconv.ParseInt(strings.TrimSuffix(s, "L"), 10, 64); err == nil {
			u.push(v)
		}
	case 'G': // BINFLOAT: big-endian float64
		var b []byte
		if b, err = u.read(8); err == nil {
			u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
		}
	case 'F': // FLOAT (text)
		var s string
		if s, err = u.readLine(); err != nil {
			return false, err
		}
		var v float64
		if v, err = strconv.ParseFloat(s, 64); err == nil {
			u.push(v)
		}

	case 'X', 0x8c, 0x8d, 'T', 'U': // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8, BINSTRING, SHORT_BINSTRING
		var b []byte
		if b, err = u.readCounted(op); err == nil {
			u.push(string(b))
		}
	case 'B', 'C', 0x8e, 0x96: // BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8
		var b []byte
		if b, err = u.readCounted(op); err == nil {
			u.push(append([]byte(nil), b...))
		}

	case ')':
		u.push(tuple{})
	case 't':
		var items []any
		if items, err = u.popMark(); err == nil {
			u.push(tuple(items))
		}
	case 0x85, 0x86, 0x87: // TUPLE1..3
		var items []any
		if items, err = u.popN(int(op - 0x84)); err == nil {
			u.push(tuple(items))
		}

	case ']':
		u.push(&list{})
	case 'l': // LIST
		var items []any
		if items, err = u.popMark(); err == nil {
			u.push(&list{items: items})
		}
	case 'a', 'e': // APPEND, APPENDS
		var items []any
		if op == 'a' {
			items, err = u.popN(1)
		} else {
			items, err = u.popMark()
		}
		if err != nil {
			return false, err
		}
		err = u.extendTop(items, "APPEND to a %s, not a list")
	case 0x8f: // EMPTY_SET: sets are kept as lists
		u.push(&list{})
	case 0x90: // ADDITEMS
		var items []any
		if items, err = u.popMark(); err != nil {
			return false, err
		}
		err = u.extendTop(items, "ADDITEMS to a %s, not a set")
	case 0x91: // FROZENSET
		var items []any
		if items, err = u.popMark(); err == nil {
			u.push(&list{items: items})
		}

	case '}':
		u.push(newDict())
	case 'd': // DICT
		var items []any
		if items, err = u.popMark(); err != nil {
			return false, err
		}
		d := newDict()
		if err = setPairs(d, items); err == nil {
			u.push(d)
		}
	case 's', 'u': // SETITEM, SETITEMS
		var items []any
		if op == 's' {
			items, err = u.popN(2)
		} else {
			items, err = u.popMark()
		}
		if err != nil {
			return false, err
		}
		var target any
		if target, err = u.top(); err != nil {
			return false, err
		}
		d, ok := target.(*dict)
		if !ok {
			return false, fmt.Errorf("SETITEM on a %s, not a dict", describe(target))
		}
		err = setPairs(d, items)

	case 'c': // GLOBAL "module\nname\n"
		var module, name string
		if module, err = u.readLine(); err != nil {
			return false, err
		}
		if name, err = u.readLine(); err == nil {
			u.push(global{module, name})
		}
	case 0x93: // STACK_GLOBAL
		var items []any
		if items, err = u.popN(2); err != nil {
			return false, err
		}
		module, ok1 := items[0].(string)
		name, ok2 := items[1].(string)
		if !ok1 || !ok2 {
			return false, fmt.Errorf("STACK_GLOBAL of %s and %s, want two strings", describe(items[0]), describe(items[1]))
		}
		u.push(global{module, name})
	case 'R': // REDUCE: callable(*args)
		var items []any
		if items, err = u.popN(2); err != nil {
			return false, err
		}
		var v any
		if v, err = call(items[0], items[1]); err == nil {
			u.push(v)
		}
	case 0x81: // NEWOBJ: cls.__new__(cls, *args)
		var items []any
		if items, err = u.popN(2); err != nil {
			return false, err
		}
		var v any
		if v, err = call(items[0], items[1]); err == nil {
			u.push(v)
		}
	case 0x92: // NEWOBJ_EX: keyword arguments are dropped
		var items []any
		if items, err = u.popN(3); err != nil {
			return false, err
		}
		var v any
		if v, err = call(items[0], items[1]); err == nil {
			u.push(v)
		}
	case 'b': // BUILD: obj.__setstate__(state)
		var state, target any
		if state, err = u.pop(); err != nil {
			return false, err
		}
		if target, err = u.top(); err != nil {
			return false, err
		}
		err = build(target, state)
	case 'Q': // BINPERSID
		var pid any
		if pid, err = u.pop(); err != nil {
			return false, err
		}
		if u.loadID == nil {
			return false, fmt.Errorf("persistent id %s but no persistent loader", describe(pid))
		}
		var v any
		if v, err = u.loadID(pid); err == nil {
			u.push(v)
		}

	case 'q': // BINPUT
		var idx uint64
		if idx, err = u.readUint(1); err == nil {
			err = u.memoPut(int64(idx))
		}
	case 'r': // LONG_BINPUT
		var idx uint64
		if idx, err = u.readUint(4); err == nil {
			err = u.memoPut(int64(idx))
		}
	case 0x94: // MEMOIZE
		err = u.memoPut(int64(len(u.memo)))
	case 'p': // PUT (text)
		var s string
		if s, err = u.readLine(); err != nil {
			return false, err
		}
		var idx int64
		if idx, err = strconv.ParseInt(s, 10, 64); err == nil {
			err = u.memoPut(idx)
		}
	case 'h': // BINGET
		var idx uint64
		if idx, err = u.readUint(1); err == nil {
			err = u.memoGet(int64(idx))
		}
	case 'j': // LONG_BINGET
		var idx uint64
		if idx, err = u.readUint(4); err == nil {
			err = u.memoGet(int64(idx))
		}
	case 'g': // GET (text)
		var s string
		if s, err = u.readLine(); err != nil {
			return false, err
		}
		var idx int64
		if idx, err = strconv.ParseInt(s, 10, 64); err == nil {
			err = u.memoGet(idx)
		}

	default:
		if name, ok := opcodeNames[op]; ok {
			return false, fmt.Errorf("unsupported pickle opcode %s", name)
		}
		return false, fmt.Errorf("unsupported pickle opcode %q", rune(op))
	}
	return false, err
}

// readCounted reads the length-prefixed payload of a string or bytes opcode.
func (u *unpickler) readCounted(op byte) ([]byte, error) {
	width := 4
	switch op {
	case 0x8c, 'U', 'C':
		width = 1
	case 0x8d, 0x8e, 0x96:
		width = 8
	}
	n, err := u.readUint(width)
	if err != nil {
		return nil, err
	}
	if n > uint64(len(u.data)) {
		return nil, fmt.Errorf("string of %d bytes in a pickle of %d (corrupt length)", n, len(u.data))
	}
	return u.read(int(n))
}

func decodeLong(b []byte) (int64, error) {
	if len(b) > 8 {
		return 0, fmt.Errorf("integer of %d bytes does not fit in 64 bits", len(b))
	}
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	if n := len(b); n > 0 && n < 8 && b[n-1]&0x80 != 0 { // sign-extend
		v |= ^uint64(0) << (8 * n)
	}
	return int64(v), nil
}

func setPairs(d *dict, items []any) error {
	if len(items)%2 != 0 {
		return fmt.Errorf("odd number (%d) of dict keys and values", len(items))
	}
	for i := 0; i < len(items); i += 2 {
		if err := d.set(items[i], items[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// call interprets callable(*args) for REDUCE and NEWOBJ.
func call(callable, argsValue any) (any, error) {
	g, ok := callable.(global)
	if !ok {
		return nil, fmt.Errorf("call of a %s, not a class or function", describe(callable))
	}
	args, ok := argsValue.(tuple)
	if !ok {
		return nil, fmt.Errorf("%s called with a %s, not an argument tuple", g, describe(argsValue))
	}
	switch g.String() {
	case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
		// (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]])
		return rebuildTensor(g, args)
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		// (data, requires_grad, backward_hooks[, state]): the tensor itself.
		if len(args) < 1 {
			return nil, fmt.Errorf("%s called without arguments", g)
		}
		if _, ok := args[0].(*tensorRef); !ok {
			return nil, fmt.Errorf("%s of a %s, not a tensor", g, describe(args[0]))
		}
		return args[0], nil
	case "collections.OrderedDict", "builtins.dict", "__builtin__.dict":
		return newDict(), nil
	case "torch.jit._pickle.build_intlist", "torch.jit._pickle.build_tensorlist",
		"torch.jit._pickle.build_doublelist", "torch.jit._pickle.build_boollist",
		"torch.jit._pickle.build_genericlist", "torch.jit._pickle.restore_type_tag":
		// TorchScript's typed containers: the value is the first argument.
		if len(args) < 1 {
			return nil, fmt.Errorf("%s called without arguments", g)
		}
		return args[0], nil
	case "_codecs.encode":
		// Protocol 2 writes Python 3 bytes as _codecs.encode(text, "latin1").
		if len(args) < 1 {
			return nil, fmt.Errorf("%s called without arguments", g)
		}
		s, ok := args[0].(string)
		if !ok {
			return nil, fmt.Errorf("%s of a %s, not a string", g, describe(args[0]))
		}
		b := make([]byte, 0, len(s))
		for _, r := range s {
			b = append(b, byte(r))
		}
		return b, nil
	}
	if g.module == "torch._utils" || g.module == "torch" && strings.HasPrefix(g.name, "_rebuild") {
		// Quantised, sparse, nested or new-dtype tensors: refusing is better
		// than silently dropping a tensor.
		return nil, fmt.Errorf("unsupported tensor kind %s (only dense tensors of typed storages are read)", g)
	}
	return &object{class: g, args: args}, nil
}

func rebuildTensor(g global, args tuple) (any, error) {
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
	case tuple:
		items = v
	case *list:
		items = v.items
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

// build applies BUILD's state. Objects keep it (a module's attributes);
// dicts ignore it (an OrderedDict's state is its instance attributes, such
// as a state_dict's _metadata); tensors ignore it (Parameter flags).
func build(target, state any) error {
	switch t := target.(type) {
	case *object:
		if t.state == nil {
			t.state = state
			return nil
		}
		// A second BUILD merges attribute dicts, as Python's setattr loop does.
		old, ok1 := t.state.(*dict)
		add, ok2 := state.(*dict)
		if !ok1 || !ok2 {
			t.state = state
			return nil
		}
		for i, k := range add.keys {
			if err := old.set(k, add.values[i]); err != nil {
				return err
			}
		}
		return nil
	case *dict, *tensorRef:
		return nil
	}
	return fmt.Errorf("BUILD on a %s", describe(target))
}

// describe names a VM value's Python type for error messages.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case tuple:
		return "tuple"
	case *list:
		return "list"
	case *dict:
		return "dict"
	case global:
		return "reference to " + v.String()
	case *object:
		return v.class.String() + " object"
	case *storage:
		return v.dtype + "Storage"
	case *tensorRef:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}

// extendTop appends items to the list (or set, kept as a list) on top of the
// stack; notList formats the error for anything else.
func (u *unpickler) extendTop(items []any, notList string) error {
	target, err := u.top()
	if err != nil {
		return err
	}
	l, ok := target.(*list)
	if !ok {
		return fmt.Errorf(notList, describe(target))
	}
	l.items = append(l.items, items...)
	return nil
}

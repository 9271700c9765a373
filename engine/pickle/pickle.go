// Package pickle reads Python pickles without running any code: a small
// virtual machine for the opcodes of protocols 0 to 5 that carry data. A
// class reference (GLOBAL) is a name; calling it (REDUCE, NEWOBJ) builds an
// inert Object unless the caller's Call hook interprets it (torchscript
// rebuilds tensors that way); BUILD keeps the state on the object. Python's
// own pickler (torch.save, Dassl's few-shot splits) and TorchScript's C++
// pickler emit only these opcodes.
package pickle

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Global is a class or function reference, Module.Name.
type Global struct{ Module, Name string }

func (g Global) String() string { return g.Module + "." + g.Name }

// Tuple is an immutable Python tuple.
type Tuple []any

// List is a mutable Python list (APPEND mutates it after it is memoised);
// sets are kept as lists too.
type List struct{ Items []any }

// Dict is an insertion-ordered Python dict (or OrderedDict) with hashable
// scalar keys.
type Dict struct {
	Keys   []any
	Values []any
	index  map[any]int
}

// NewDict returns an empty Dict.
func NewDict() *Dict { return &Dict{index: map[any]int{}} }

// Set adds or replaces the value of key k.
func (d *Dict) Set(k, v any) error {
	hk, err := hashKey(k)
	if err != nil {
		return err
	}
	if i, ok := d.index[hk]; ok {
		d.Values[i] = v
		return nil
	}
	d.index[hk] = len(d.Keys)
	d.Keys = append(d.Keys, k)
	d.Values = append(d.Values, v)
	return nil
}

// Get returns the value of key k.
func (d *Dict) Get(k any) (any, bool) {
	hk, err := hashKey(k)
	if err != nil {
		return nil, false
	}
	i, ok := d.index[hk]
	if !ok {
		return nil, false
	}
	return d.Values[i], true
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
	case Tuple:
		return fmt.Sprintf("Tuple:%#v", k), nil
	}
	return nil, fmt.Errorf("unhashable dict key of type %T", k)
}

// Object is an instance of a class the VM does not interpret: a TorchScript
// module (__torch__.*), a Dassl Datum, or any other pickled Python object.
// Args are its constructor arguments, State what BUILD gave it (usually the
// dict of its attributes).
type Object struct {
	Class Global
	Args  Tuple
	State any
}

// Options connect the VM to what a caller knows about the pickled objects.
type Options struct {
	// PersistentLoad answers BINPERSID (torch.save's storages); without it
	// a persistent id is an error.
	PersistentLoad func(pid any) (any, error)
	// Call interprets callable(*args) of REDUCE and NEWOBJ before the VM
	// does; handled false leaves the call to the VM, which knows dict
	// constructors and _codecs.encode and builds an inert Object otherwise.
	Call func(callable Global, args Tuple) (v any, handled bool, err error)
	// Build receives BUILD's state for values the VM does not know (those
	// Call made); without it BUILD on such a value is an error.
	Build func(target, state any) error
}

// unpickler is the VM state. marks are stack heights saved by MARK.
type unpickler struct {
	data  []byte
	pos   int
	stack []any
	marks []int
	memo  map[int64]any
	opts  Options
}

// opcodeNames names the opcodes this VM rejects, for the error message.
var opcodeNames = map[byte]string{
	'o': "OBJ", 'i': "INST", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4",
	'P': "PERSID", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
}

// Unpickle runs data through the VM and returns the value STOP finds.
func Unpickle(data []byte, opts Options) (any, error) {
	u := &unpickler{data: data, memo: map[int64]any{}, opts: opts}
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

// step runs one opcode; done is true at STOP. The opcodes are handled by
// what they make, one method per kind.
func (u *unpickler) step(op byte) (done bool, err error) {
	switch op {
	case '.': // STOP
		return true, nil
	case 0x80, 0x95, '(', '0', '1', '2':
		return false, u.frame(op)
	case 'N', 0x88, 0x89, 'K', 'M', 'J', 0x8a, 0x8b, 'I', 'L':
		return false, u.integer(op)
	case 'G', 'F':
		return false, u.float(op)
	case 'X', 0x8c, 0x8d, 'T', 'U', 'B', 'C', 0x8e, 0x96:
		return false, u.text(op)
	case ')', 't', 0x85, 0x86, 0x87, ']', 'l', 'a', 'e', 0x8f, 0x90, 0x91:
		return false, u.sequence(op)
	case '}', 'd', 's', 'u':
		return false, u.dict(op)
	case 'c', 0x93, 'R', 0x81, 0x92, 'b', 'Q':
		return false, u.object(op)
	case 'q', 'r', 0x94, 'p', 'h', 'j', 'g':
		return false, u.memoOp(op)
	}
	if name, ok := opcodeNames[op]; ok {
		return false, fmt.Errorf("unsupported pickle opcode %s", name)
	}
	return false, fmt.Errorf("unsupported pickle opcode %q", rune(op))
}

// frame runs the opcodes of frames, marks and the stack: PROTO, FRAME,
// MARK, POP, POP_MARK, DUP.
func (u *unpickler) frame(op byte) (err error) {
	switch op {
	case 0x80: // PROTO
		p, err := u.readUint(1)
		if err != nil {
			return err
		}
		if p > 5 {
			return fmt.Errorf("pickle protocol %d is newer than 5", p)
		}
	case 0x95: // FRAME: a length prefix only; the data follows inline.
		_, err = u.read(8)
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
	}
	return err
}

// integer runs the opcodes of None, booleans and integers, binary and text.
func (u *unpickler) integer(op byte) (err error) {
	switch op {
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
			return err
		}
		var b []byte
		if b, err = u.read(int(n)); err != nil {
			return err
		}
		var v int64
		if v, err = decodeLong(b); err == nil {
			u.push(v)
		}
	case 'I': // INT (text); protocol 0 spells booleans I00/I01
		var s string
		if s, err = u.readLine(); err != nil {
			return err
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
			return err
		}
		var v int64
		if v, err = strconv.ParseInt(strings.TrimSuffix(s, "L"), 10, 64); err == nil {
			u.push(v)
		}
	}
	return err
}

// float runs the opcodes of floats, binary and text.
func (u *unpickler) float(op byte) (err error) {
	switch op {
	case 'G': // BINFLOAT: big-endian float64
		var b []byte
		if b, err = u.read(8); err == nil {
			u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
		}
	case 'F': // FLOAT (text)
		var s string
		if s, err = u.readLine(); err != nil {
			return err
		}
		var v float64
		if v, err = strconv.ParseFloat(s, 64); err == nil {
			u.push(v)
		}
	}
	return err
}

// text runs the opcodes of strings and bytes.
func (u *unpickler) text(op byte) (err error) {
	switch op {
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
	}
	return err
}

// sequence runs the opcodes of tuples, lists and sets (sets are kept as lists).
func (u *unpickler) sequence(op byte) (err error) {
	switch op {
	case ')':
		u.push(Tuple{})
	case 't':
		var items []any
		if items, err = u.popMark(); err == nil {
			u.push(Tuple(items))
		}
	case 0x85, 0x86, 0x87: // TUPLE1..3
		var items []any
		if items, err = u.popN(int(op - 0x84)); err == nil {
			u.push(Tuple(items))
		}
	case ']':
		u.push(&List{})
	case 'l': // LIST
		var items []any
		if items, err = u.popMark(); err == nil {
			u.push(&List{Items: items})
		}
	case 'a', 'e': // APPEND, APPENDS
		var items []any
		if op == 'a' {
			items, err = u.popN(1)
		} else {
			items, err = u.popMark()
		}
		if err != nil {
			return err
		}
		err = u.extendTop(items, "APPEND to a %s, not a list")
	case 0x8f: // EMPTY_SET: sets are kept as lists
		u.push(&List{})
	case 0x90: // ADDITEMS
		var items []any
		if items, err = u.popMark(); err != nil {
			return err
		}
		err = u.extendTop(items, "ADDITEMS to a %s, not a set")
	case 0x91: // FROZENSET
		var items []any
		if items, err = u.popMark(); err == nil {
			u.push(&List{Items: items})
		}
	}
	return err
}

// dict runs the opcodes of dicts.
func (u *unpickler) dict(op byte) (err error) {
	switch op {
	case '}':
		u.push(NewDict())
	case 'd': // DICT
		var items []any
		if items, err = u.popMark(); err != nil {
			return err
		}
		d := NewDict()
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
			return err
		}
		var target any
		if target, err = u.top(); err != nil {
			return err
		}
		d, ok := target.(*Dict)
		if !ok {
			return fmt.Errorf("SETITEM on a %s, not a dict", Describe(target))
		}
		err = setPairs(d, items)
	}
	return err
}

// object runs the opcodes of globals, calls, BUILD and persistent ids.
func (u *unpickler) object(op byte) (err error) {
	switch op {
	case 'c': // GLOBAL "module\nname\n"
		var module, name string
		if module, err = u.readLine(); err != nil {
			return err
		}
		if name, err = u.readLine(); err == nil {
			u.push(Global{module, name})
		}
	case 0x93: // STACK_GLOBAL
		var items []any
		if items, err = u.popN(2); err != nil {
			return err
		}
		module, ok1 := items[0].(string)
		name, ok2 := items[1].(string)
		if !ok1 || !ok2 {
			return fmt.Errorf("STACK_GLOBAL of %s and %s, want two strings", Describe(items[0]), Describe(items[1]))
		}
		u.push(Global{module, name})
	case 'R': // REDUCE: callable(*args)
		var items []any
		if items, err = u.popN(2); err != nil {
			return err
		}
		var v any
		if v, err = u.call(items[0], items[1]); err == nil {
			u.push(v)
		}
	case 0x81: // NEWOBJ: cls.__new__(cls, *args)
		var items []any
		if items, err = u.popN(2); err != nil {
			return err
		}
		var v any
		if v, err = u.call(items[0], items[1]); err == nil {
			u.push(v)
		}
	case 0x92: // NEWOBJ_EX: keyword arguments are dropped
		var items []any
		if items, err = u.popN(3); err != nil {
			return err
		}
		var v any
		if v, err = u.call(items[0], items[1]); err == nil {
			u.push(v)
		}
	case 'b': // BUILD: obj.__setstate__(state)
		var state, target any
		if state, err = u.pop(); err != nil {
			return err
		}
		if target, err = u.top(); err != nil {
			return err
		}
		err = u.build(target, state)
	case 'Q': // BINPERSID
		var pid any
		if pid, err = u.pop(); err != nil {
			return err
		}
		if u.opts.PersistentLoad == nil {
			return fmt.Errorf("persistent id %s but no persistent loader", Describe(pid))
		}
		var v any
		if v, err = u.opts.PersistentLoad(pid); err == nil {
			u.push(v)
		}
	}
	return err
}

// memoOp runs the opcodes of the memo: PUT and GET in their binary and text forms.
func (u *unpickler) memoOp(op byte) (err error) {
	switch op {
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
			return err
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
			return err
		}
		var idx int64
		if idx, err = strconv.ParseInt(s, 10, 64); err == nil {
			err = u.memoGet(idx)
		}
	}
	return err
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

func setPairs(d *Dict, items []any) error {
	if len(items)%2 != 0 {
		return fmt.Errorf("odd number (%d) of dict keys and values", len(items))
	}
	for i := 0; i < len(items); i += 2 {
		if err := d.Set(items[i], items[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// call interprets callable(*args) for REDUCE and NEWOBJ: the caller's Call
// first, then the few functions plain data needs, else an inert Object.
func (u *unpickler) call(callable, argsValue any) (any, error) {
	g, ok := callable.(Global)
	if !ok {
		return nil, fmt.Errorf("call of a %s, not a class or function", Describe(callable))
	}
	args, ok := argsValue.(Tuple)
	if !ok {
		return nil, fmt.Errorf("%s called with a %s, not an argument tuple", g, Describe(argsValue))
	}
	if u.opts.Call != nil {
		if v, handled, err := u.opts.Call(g, args); handled || err != nil {
			return v, err
		}
	}
	switch g.String() {
	case "collections.OrderedDict", "builtins.dict", "__builtin__.dict":
		return NewDict(), nil
	case "_codecs.encode":
		// Protocol 2 writes Python 3 bytes as _codecs.encode(text, "latin1").
		if len(args) < 1 {
			return nil, fmt.Errorf("%s called without arguments", g)
		}
		s, ok := args[0].(string)
		if !ok {
			return nil, fmt.Errorf("%s of a %s, not a string", g, Describe(args[0]))
		}
		b := make([]byte, 0, len(s))
		for _, r := range s {
			b = append(b, byte(r))
		}
		return b, nil
	}
	return &Object{Class: g, Args: args}, nil
}

// build applies BUILD's state. Objects keep it; dicts ignore it (an
// OrderedDict's state is its instance attributes, such as a state_dict's
// _metadata); values the caller's Call made go to its Build.
func (u *unpickler) build(target, state any) error {
	switch t := target.(type) {
	case *Object:
		if t.State == nil {
			t.State = state
			return nil
		}
		// A second BUILD merges attribute dicts, as Python's setattr loop does.
		old, ok1 := t.State.(*Dict)
		add, ok2 := state.(*Dict)
		if !ok1 || !ok2 {
			t.State = state
			return nil
		}
		for i, k := range add.Keys {
			if err := old.Set(k, add.Values[i]); err != nil {
				return err
			}
		}
		return nil
	case *Dict:
		return nil
	}
	if u.opts.Build != nil {
		return u.opts.Build(target, state)
	}
	return fmt.Errorf("BUILD on a %s", Describe(target))
}

// Describe names a value's Python type for error messages.
func Describe(v any) string {
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
	case Tuple:
		return "Tuple"
	case *List:
		return "list"
	case *Dict:
		return "dict"
	case Global:
		return "reference to " + v.String()
	case *Object:
		return v.Class.String() + " object"
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
	l, ok := target.(*List)
	if !ok {
		return fmt.Errorf(notList, Describe(target))
	}
	l.Items = append(l.Items, items...)
	return nil
}

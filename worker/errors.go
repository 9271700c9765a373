package worker

import (
	"errors"
	"io/fs"
	"syscall"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fomo-grid/grid/engine"
)

// Kinds of job failure the host treats differently. Errors that Run returns
// wrap at most one of them (errors.Is); a failure that wraps none is the
// engine's and may pass on a retry, as a dead worker's (ErrWorkerDied) may.
var (
	// ErrBadInput: the task or what it reads is wrong (a missing file, a
	// corrupt image, a refused task); running it again cannot help.
	ErrBadInput = errors.New("bad input")
	// ErrNoSpace: the worker's disk (or quota) is full; nothing on that
	// disk can be written until space is freed.
	ErrNoSpace = errors.New("no space left on device")
)

// jobError is a job failure as the worker reported it: the engine's message,
// and the kind the worker found it to be.
type jobError struct {
	msg  string
	kind error // ErrBadInput, ErrNoSpace, or nil
}

func (e *jobError) Error() string        { return e.msg }
func (e *jobError) Is(target error) bool { return e.kind != nil && target == e.kind }

// engineError carries an engine failure to the host with a code that says
// its kind; any of these codes also tells the host the worker is alive.
func engineError(err error) error {
	code := codes.Aborted
	switch {
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT):
		code = codes.ResourceExhausted
	case errors.Is(err, engine.ErrBadInput) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission):
		code = codes.FailedPrecondition
	}
	return status.Error(code, err.Error())
}

// answered turns the status of a job the worker failed into the error Run
// returns; ok is false when the status is no answer of the worker's (the
// transport broke).
func answered(st *status.Status) (err error, ok bool) {
	switch st.Code() {
	case codes.Aborted:
		return &jobError{msg: st.Message()}, true
	case codes.InvalidArgument, codes.FailedPrecondition:
		return &jobError{msg: st.Message(), kind: ErrBadInput}, true
	case codes.ResourceExhausted:
		return &jobError{msg: st.Message(), kind: ErrNoSpace}, true
	}
	return nil, false
}

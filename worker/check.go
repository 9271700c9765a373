package worker

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fomo-grid/grid/engine"
	"github.com/fomo-grid/grid/internal/study"
)

// Input is what a set of jobs reads from disk: a model directory and one
// dataset's class half, with the longest context (or the zero-shot prompt)
// they put in front of the class names. Paths are absolute.
type Input struct {
	Model    string        `json:"model"`
	DataRoot string        `json:"data_root"`
	Dataset  string        `json:"dataset"`
	Classes  study.Classes `json:"classes"`
	NCtx     int           `json:"n_ctx"`
	Prompt   string        `json:"prompt,omitempty"`
}

// CheckRequest asks the worker's engine to check inputs before any job runs.
type CheckRequest struct {
	Inputs []Input `json:"inputs"`
}

// CheckReply lists the inputs that fail.
type CheckReply struct {
	Problems []Problem `json:"problems,omitempty"`
	// Checked is false when the engine cannot check inputs (it is no
	// engine.Checker); then no problem is reported either.
	Checked bool `json:"checked"`
}

// The grid file keys a Problem blames (the engine's names, for hosts that
// do not import the engine).
const (
	KeyModel    = engine.KeyModel
	KeyDataRoot = engine.KeyDataRoot
	KeyDataset  = engine.KeyDataset
	KeyNCtx     = engine.KeyNCtx
	KeyPrompt   = engine.KeyPrompt
)

// Problem is one input that would fail its jobs, blamed on the grid file
// key that fixes it (KeyModel, KeyDataRoot, KeyDataset, KeyNCtx, KeyPrompt).
type Problem struct {
	Input   int    `json:"input"` // index into CheckRequest.Inputs
	Key     string `json:"key"`
	Message string `json:"message"`
}

// Check asks the worker to check inputs. A worker that loads a model to
// check it keeps it for the jobs it runs next. checked is false when the
// worker's engine (or an older worker) cannot check.
func (c *Client) Check(ctx context.Context, inputs []Input) (problems []Problem, checked bool, err error) {
	if c.Exited() {
		return nil, false, c.died()
	}
	var reply CheckReply
	err = c.conn.Invoke(ctx, checkMethod, &CheckRequest{Inputs: inputs}, &reply, grpc.CallContentSubtype(codecName))
	if status.Code(err) == codes.Unimplemented {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, c.callError(ctx, err)
	}
	return reply.Problems, reply.Checked, nil
}

func (s *server) check(ctx context.Context, req *CheckRequest) (*CheckReply, error) {
	checker, ok := s.engine.(engine.Checker)
	if !ok {
		return &CheckReply{}, nil
	}
	reply := &CheckReply{Checked: true}
	for i, in := range req.Inputs {
		err := checker.Check(ctx, engine.InputSpec{
			Model:  in.Model,
			Data:   engine.DataSpec{Root: in.DataRoot, Dataset: in.Dataset, Classes: in.Classes},
			NCtx:   in.NCtx,
			Prompt: in.Prompt,
		})
		if ctx.Err() != nil {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		if err == nil {
			continue
		}
		p := Problem{Input: i, Key: engine.KeyModel, Message: err.Error()}
		var ie *engine.InputError
		if errors.As(err, &ie) {
			p.Key = ie.Key
		}
		reply.Problems = append(reply.Problems, p)
	}
	return reply, nil
}

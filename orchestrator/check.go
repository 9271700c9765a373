package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/fomo-grid/grid/internal/study"
	"github.com/fomo-grid/grid/sweeps"
	"github.com/fomo-grid/grid/worker"
)

// Check checks what the grid's jobs read before any of it is written to:
// the model directory and data root exist, and (asked of a worker, whose
// engine knows the formats) the model has weights and a tokenizer, every
// dataset folder and split file exists, and every class sentence fits the
// model's context. Problems name the grid file, the line and the key to
// change, all at once. `grid plan` calls it; Run does the same before its
// first write.
func Check(ctx context.Context, gridFile string, opts Options) error {
	s, err := Load(gridFile)
	if err != nil {
		return err
	}
	return s.Check(ctx, opts)
}

// Check is Check of a loaded session.
func (s *Session) Check(ctx context.Context, opts Options) error {
	c, err := s.preflight(ctx, s.withDefaults(opts))
	if c != nil {
		c.Kill()
	}
	return err
}

// preflight is Check of a loaded session. It returns the worker it
// started, which keeps the model it loaded, for the run's first slot.
func (s *Session) preflight(ctx context.Context, opts Options) (*worker.Client, error) {
	if err := s.CheckPaths(); err != nil {
		return nil, err
	}
	inputs, users := s.inputs()
	first := workerSlots(opts.Workers, opts.GPUs, opts.GPUSlots)[0]
	c, err := worker.Start(ctx, worker.Options{Command: opts.WorkerCommand, Logger: opts.Logger.Named(first.name), Backend: opts.Backend, Env: first.env})
	if err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	problems, _, err := c.Check(ctx, inputs)
	if err != nil {
		c.Kill()
		return nil, fmt.Errorf("checking the grid's inputs: %w", err)
	}
	if len(problems) > 0 {
		c.Kill()
		return nil, s.problemsError(problems, users)
	}
	return c, nil
}

// CheckPaths fails fast when a model directory or data root does not
// exist, naming the grid file, line and key, without a worker.
func (s *Session) CheckPaths() error {
	seen := map[string]bool{}
	var errs []error
	for _, j := range s.Grid.Jobs {
		for _, key := range []string{worker.KeyModel, worker.KeyDataRoot} {
			p := j.Config.Model
			if key == worker.KeyDataRoot {
				p = j.Config.DataRoot
			}
			if seen[key+"\x00"+p] {
				continue
			}
			seen[key+"\x00"+p] = true
			if _, err := os.Stat(s.Grid.Resolve(p)); err != nil {
				errs = append(errs, s.Grid.KeyError(j, key, "%v", err))
			}
		}
	}
	return errors.Join(errs...)
}

// inputs lists what the jobs read, each once, with the longest context any
// of its jobs uses, and for each the first job that reads it.
func (s *Session) inputs() ([]worker.Input, []sweeps.Job) {
	index := map[worker.Input]int{}
	var inputs []worker.Input
	var users []sweeps.Job
	// filepath.Abs asks the OS for the working directory each time: once
	// per distinct path, not four system calls per job.
	abs := map[string]string{}
	resolve := func(p string) string {
		a, ok := abs[p]
		if !ok {
			a = absPath(s.Grid.Resolve(p))
			abs[p] = a
		}
		return a
	}
	for _, j := range s.Grid.Jobs {
		c := j.Config
		in := worker.Input{Model: resolve(c.Model), DataRoot: resolve(c.DataRoot), Dataset: c.Dataset, Classes: c.Classes}
		if c.Kind == study.KindEval && c.Source == "" {
			in.Prompt = c.Template
		}
		i, ok := index[in]
		if !ok {
			i = len(inputs)
			index[in] = i
			inputs = append(inputs, in)
			users = append(users, j)
		}
		if in.Prompt == "" && c.NCtx > inputs[i].NCtx {
			inputs[i].NCtx, users[i] = c.NCtx, j
		}
	}
	return inputs, users
}

// problemsError turns the worker's problems into grid file errors, one per
// line and key (the base and new halves of a dataset fail alike), in file
// order.
func (s *Session) problemsError(problems []worker.Problem, users []sweeps.Job) error {
	seen := map[string]bool{}
	var errs []*sweeps.Error
	for _, p := range problems {
		key := p.Key
		if key == worker.KeyPrompt {
			key = "template"
		}
		e := s.Grid.KeyError(users[p.Input], key, "%s", p.Message)
		where := fmt.Sprintf("%d\x00%s\x00%s\x00%s", e.Line, e.Experiment, e.Key, users[p.Input].Config.Dataset)
		if !seen[where] {
			seen[where] = true
			errs = append(errs, e)
		}
	}
	sort.SliceStable(errs, func(a, b int) bool { return errs[a].Line < errs[b].Line })
	joined := make([]error, len(errs))
	for i, e := range errs {
		joined[i] = e
	}
	return errors.Join(joined...)
}

// absPath is p made absolute, or p when that fails.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

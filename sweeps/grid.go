// Package sweeps reads grid files: TOML descriptions of experiments (a
// product of parameter axes over datasets, ablation variants, base-to-new
// and transfer evaluations) and expands them into a DAG of jobs, each named
// by a hash of its resolved configuration. LANGUAGE.md in this directory
// documents the language in full.
//
// A minimal grid file:
//
//	[grid]
//	name = "demo"
//	model = "models/ViT-B-16"
//	data_root = "data"
//
//	[[experiment]]
//	name = "sweep"
//	protocol = "base2new"
//	datasets = ["eurosat", "dtd"]
//	[experiment.axes]
//	n_ctx = [1, 2, 4]
//
// expands into 6 train jobs (base classes) and 6 eval jobs (new classes),
// each eval depending on its train job.
package sweeps

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Grid is an expanded grid file.
type Grid struct {
	Name     string // [grid] name
	Out      string // run directory as written (default "runs/<name>"); see Resolve
	Model    string // model directory as written
	DataRoot string // dataset root as written
	Workers  int    // default number of parallel workers (>= 1)
	GPUSlots int    // jobs run at once on each GPU (>= 1)
	Retries  int    // extra attempts for a failed job (>= 0)
	Slurm    Slurm  // [slurm]: resources for `grid submit`
	// Backend is the engine backend setting ("auto", "cpu", "cuda", ...;
	// "" when the file has none). It is not part of any job's identity:
	// the same job gives the same numbers on every backend, up to
	// rounding.
	Backend string
	// JobTimeout bounds one attempt of a job ([grid] job_timeout, e.g.
	// "2h"); zero leaves it to the orchestrator, which derives a limit
	// from the measured step time.
	JobTimeout time.Duration

	File string // the path the grid was loaded from, as given
	Dir  string // the directory of File: paths in the file are relative to it

	Experiments []string // experiment names, in file order
	// Jobs in a deterministic topological order: every job comes after the
	// jobs it depends on.
	Jobs []Job

	byID map[string]int
	// lines locate keys for KeyError.
	lines keyLines
}

// Load reads and expands the grid file at path.
func Load(path string) (*Grid, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, src)
}

// Parse expands the grid file src; filename locates it (paths written in the
// file are relative to its directory) and names it in errors. Every error
// about the file's content is an *Error.
func Parse(filename string, src []byte) (*Grid, error) {
	var doc map[string]any
	if _, err := toml.Decode(string(src), &doc); err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			line := syntaxErrorLine(src, perr.Position)
			return nil, &Error{File: filename, Line: line, Key: syntaxErrorKey(src, perr.LastKey, line), Msg: perr.Message}
		}
		return nil, &Error{File: filename, Msg: err.Error()}
	}
	d := &decoder{file: filename, lines: scanKeyLines(src)}
	f, err := d.decodeFile(doc)
	if err != nil {
		return nil, err
	}
	g := &Grid{
		Name:       f.name,
		Out:        f.out,
		Model:      f.model,
		DataRoot:   f.dataRoot,
		Workers:    f.workers,
		GPUSlots:   f.gpuSlots,
		Retries:    f.retries,
		JobTimeout: f.jobTimeout,
		Slurm:      f.slurm,
		Backend:    f.backend,
		File:       filename,
		Dir:        filepath.Dir(filename),
		Jobs:       expand(f),
		byID:       map[string]int{},
		lines:      d.lines,
	}
	for _, e := range f.experiments {
		g.Experiments = append(g.Experiments, e.name)
	}
	for i, j := range g.Jobs {
		g.byID[j.ID] = i
	}
	return g, nil
}

// syntaxErrorLine is the line holding the start of a syntax error. The toml
// package counts an error found at a newline (an unclosed header, a missing
// value) on the line after it; the line the newline ends is the one to fix.
func syntaxErrorLine(src []byte, pos toml.Position) int {
	if pos.Start < 0 || pos.Start >= len(src) {
		return pos.Line
	}
	return 1 + bytes.Count(src[:pos.Start], []byte("\n"))
}

// syntaxErrorKey is the key a syntax error is in: the parser's last key, if
// the error's line assigns it. (After "[[experiment]" the last key is
// whatever came before, which would mislead.)
func syntaxErrorKey(src []byte, lastKey string, line int) string {
	lines := strings.Split(string(src), "\n")
	if lastKey == "" || line < 1 || line > len(lines) {
		return ""
	}
	text := strings.TrimSpace(lines[line-1])
	last := lastKey[strings.LastIndexByte(lastKey, '.')+1:]
	rest, ok := strings.CutPrefix(text, last)
	if ok && (strings.HasPrefix(strings.TrimSpace(rest), "=") || rest == "") {
		return lastKey
	}
	return ""
}

// Job returns the job with the given ID.
func (g *Grid) Job(id string) (Job, bool) {
	if g.byID != nil {
		i, ok := g.byID[id]
		if !ok {
			return Job{}, false
		}
		return g.Jobs[i], true
	}
	for _, j := range g.Jobs {
		if j.ID == id {
			return j, true
		}
	}
	return Job{}, false
}

// Resolve turns a path written in the grid file (Out, Model, DataRoot, a
// Config's Model or DataRoot) into one usable from the current directory:
// relative paths are taken relative to the file's directory, absolute paths
// are kept.
func (g *Grid) Resolve(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(g.Dir, filepath.FromSlash(p))
}

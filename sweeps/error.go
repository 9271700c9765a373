package sweeps

import (
	"fmt"
	"strings"
)

// Error is a problem in a grid file, located at the line of the key that
// causes it. Error() reads like
//
//	grid.toml:12: experiment "grid": axes.n_ctx: empty axis
type Error struct {
	File string // the file name as given to Load or Parse
	Line int    // 1-based; 0 when no line applies (e.g. a missing table)
	// Experiment names the [[experiment]] the key belongs to; empty for keys
	// outside experiments and for an experiment that has no name yet.
	Experiment string
	// Key is the key path, relative to the experiment when Experiment is set
	// (e.g. "axes.n_ctx", "zip.lr", "dataset.imagenet.epochs").
	Key string
	Msg string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Experiment != "" {
		fmt.Fprintf(&b, ": experiment %q", e.Experiment)
	}
	if e.Key != "" {
		b.WriteString(": ")
		b.WriteString(e.Key)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

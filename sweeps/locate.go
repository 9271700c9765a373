package sweeps

import (
	"fmt"
	"regexp"
)

// elementIndex is the [i] of a list element in a key path; messages name
// the list, as the decoder's do.
var elementIndex = regexp.MustCompile(`\[\d+\]`)

// KeyError is an *Error about key as it applies to job j, at the line where
// the file sets it for that job: for model and data_root, in [grid]; for
// datasets, the experiment's datasets (or targets) list; for a parameter
// such as n_ctx, the first of the experiment's per-dataset override, axes,
// zip tables and set, then [defaults]. An eval job's parameters are its
// source train job's, so they are looked up in the source's experiment.
// Line is 0 when the file does not write the key (a built-in default).
func (g *Grid) KeyError(j Job, key, format string, args ...any) *Error {
	e := &Error{File: g.File, Key: key, Msg: fmt.Sprintf(format, args...)}
	if key == "model" || key == "data_root" || key == "job_timeout" {
		e.Key = "grid." + key
		e.Line = g.lines.find("grid." + key)
		return e
	}
	if p := paramIndex(key); p >= 0 && j.Config.Source != "" {
		if src, ok := g.Job(j.Config.Source); ok {
			j = src
		}
	}
	if len(j.Experiments) == 0 {
		return e
	}
	e.Experiment = j.Experiments[0]
	prefix := g.experimentPath(e.Experiment)
	for _, path := range g.keyPaths(prefix, j.Config.Dataset, key) {
		if line, ok := g.lines[path]; ok {
			e.Line = line
			if path == "defaults."+key {
				e.Experiment, e.Key = "", path
			} else {
				e.Key = elementIndex.ReplaceAllString(path[len(prefix)+1:], "")
			}
			return e
		}
	}
	return e
}

// experimentPath is the key path of the named experiment's table.
func (g *Grid) experimentPath(name string) string {
	for i, n := range g.Experiments {
		if n == name {
			return elementPath("experiment", i)
		}
	}
	return "experiment"
}

// keyPaths lists where key may be written for a job of the experiment at
// prefix on dataset ds, most specific first.
func (g *Grid) keyPaths(prefix, ds, key string) []string {
	if key == "datasets" || key == "targets" {
		return []string{prefix + ".datasets", prefix + ".targets"}
	}
	paths := []string{prefix + ".dataset." + ds + "." + key, prefix + ".axes." + key}
	for i := 0; ; i++ {
		zip := elementPath(prefix+".zip", i)
		if _, ok := g.lines[zip]; !ok {
			break
		}
		paths = append(paths, zip+"."+key)
	}
	return append(paths, prefix+".set."+key, prefix+"."+key, "defaults."+key)
}

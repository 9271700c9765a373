// Package registry names the backends this binary can run on. It is the
// only place that imports the implementations: cmd/grid resolves the
// `backend` setting of a grid (and --backend) here, and the golden tests
// run once per entry, so adding a backend means adding an entry here and
// touches neither the model nor the trainer.
package registry

import (
	"fmt"
	"strings"
	"sync"

	"github.com/fomo-grid/grid/engine/backend"
	"github.com/fomo-grid/grid/engine/cpu"
	"github.com/fomo-grid/grid/engine/cuda"
)

// Auto is the setting that picks the best usable backend.
const Auto = "auto"

// entry is a backend by name. usable says cheaply (without taking a
// device) why the backend cannot run here, or nil; open makes it.
type entry struct {
	name   string
	usable func() error
	open   func() (backend.Backend, error)
}

// entries are in order of preference: Auto takes the first usable one.
var entries = []entry{
	{"cuda", cuda.Usable, func() (backend.Backend, error) { return cuda.Open() }},
	{"cpu", func() error { return nil }, func() (backend.Backend, error) { return cpu.New(), nil }},
}

// Names lists the settings Open accepts: Auto, then every backend.
func Names() []string {
	names := []string{Auto}
	for _, e := range entries {
		names = append(names, e.name)
	}
	return names
}

// Backends lists the backend names, without Auto.
func Backends() []string { return Names()[1:] }

var (
	mu     sync.Mutex
	opened = map[string]backend.Backend{}
)

// Resolve turns a setting ("" means Auto) into the name of a usable
// backend, with a sentence for the log that says which backend a setting
// of Auto took and why it passed over the better ones. It takes no device:
// the process that computes opens the backend (Open).
func Resolve(setting string) (name, note string, err error) {
	if setting == "" || setting == Auto {
		var passed []string
		for _, e := range entries {
			if err := e.usable(); err != nil {
				passed = append(passed, fmt.Sprintf("%s: %v", e.name, err))
				continue
			}
			note = "backend auto: " + e.name
			if len(passed) > 0 {
				note += " (not " + strings.Join(passed, "; not ") + ")"
			}
			return e.name, note, nil
		}
		return "", "", fmt.Errorf("backend auto: no backend can run here (%s)", strings.Join(passed, "; "))
	}
	e, err := lookup(setting)
	if err != nil {
		return "", "", err
	}
	if err := e.usable(); err != nil {
		return "", "", fmt.Errorf("backend %q: %w", setting, err)
	}
	return e.name, "backend " + e.name, nil
}

// Open returns the backend a setting names (resolved as Resolve does),
// made once per process and shared.
func Open(setting string) (backend.Backend, error) {
	name, _, err := Resolve(setting)
	if err != nil {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	if b, ok := opened[name]; ok {
		return b, nil
	}
	e, _ := lookup(name)
	b, err := e.open()
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", name, err)
	}
	opened[name] = b
	return b, nil
}

func lookup(name string) (entry, error) {
	for _, e := range entries {
		if e.name == name {
			return e, nil
		}
	}
	return entry{}, fmt.Errorf("unknown backend %q (want one of %s)", name, strings.Join(Names(), ", "))
}

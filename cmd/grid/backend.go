package main

import (
	"fmt"
	"io"
	"os"

	"github.com/fomo-grid/grid/engine/backend/registry"
	"github.com/fomo-grid/grid/engine/trainer"
	"github.com/fomo-grid/grid/worker"
)

// serveWorker is the hidden worker subcommand: it opens the backend its host
// asked for, builds the DPT engine on it and hands it to the worker's serve
// loop. It never returns.
func serveWorker() {
	b, err := registry.Open(worker.BackendSetting())
	if err != nil {
		fmt.Fprintln(os.Stderr, "grid "+workerCommand+":", err)
		os.Exit(1)
	}
	worker.ServeEngine(trainer.New(b))
}

// chooseBackend resolves the backend a command's workers compute on:
// --backend if given, else the grid file's `backend`, else auto. A setting
// of auto is reported on stderr with what it took. The error names where
// the setting came from.
func chooseBackend(flagValue, fileValue, file string, stderr io.Writer) (string, error) {
	setting, source := flagValue, "--backend"
	if setting == "" && fileValue != "" {
		setting, source = fileValue, file+": grid.backend"
	}
	name, note, err := registry.Resolve(setting)
	if err != nil {
		return "", fmt.Errorf("%s: %w", source, err)
	}
	if setting == "" || setting == registry.Auto {
		fmt.Fprintln(stderr, "grid:", note)
	}
	return name, nil
}

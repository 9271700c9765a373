package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/fomo-grid/grid/engine/backend/registry"
	"github.com/fomo-grid/grid/engine/cuda"
	"github.com/fomo-grid/grid/engine/trainer"
	"github.com/fomo-grid/grid/orchestrator"
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

// gpusFor lists the GPUs a run's workers are pinned to: every GPU this
// process sees when the workers compute on CUDA (gpu_slots workers each),
// none otherwise. The run says on stderr what it found.
func gpusFor(backendName string, slots int, stderr io.Writer) ([]orchestrator.GPU, error) {
	if backendName != "cuda" {
		return nil, nil
	}
	rt, err := cuda.Default()
	if err != nil {
		return nil, err
	}
	devs, err := rt.Devices()
	if err != nil {
		return nil, err
	}
	gpus := make([]orchestrator.GPU, len(devs))
	names := make([]string, len(devs))
	for i, d := range devs {
		gpus[i] = orchestrator.GPU{Index: d.Ordinal, ID: d.UUID, Name: d.Name}
		names[i] = d.Name
	}
	fmt.Fprintf(stderr, "grid: %d GPU(s) × %d job(s) each (gpu_slots): %s\n", len(gpus), slots, strings.Join(names, ", "))
	return gpus, nil
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/fomo-grid/grid/orchestrator"
	"github.com/fomo-grid/grid/orchestrator/slurm"
	"github.com/fomo-grid/grid/report"
)

func cmdSubmit(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("submit", flag.ContinueOnError)
	dryRun := fs.Bool("dry-run", false, "print the scripts and sbatch commands; write no script and submit nothing")
	backendFlag := fs.String("backend", "", "what the tasks compute on: auto, cpu or cuda (default: the grid file's, else auto), chosen on each node")
	file, err := parse(fs, args)
	if err != nil {
		return err
	}
	return submit(file, *dryRun, *backendFlag, stdout)
}

func submit(file string, dryRun bool, backendName string, stdout io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_, err := slurm.Submit(ctx, file, slurm.SubmitOptions{DryRun: dryRun, Out: stdout, Backend: backendName})
	return err
}

// slurmTask is the hidden `grid __slurm-task MANIFEST STAGE OFFSET` an
// array task's script starts. Its exit status tells the script to requeue
// the task (slurm.ExitRequeue).
func slurmTask(args []string, stdout, stderr io.Writer) int {
	if len(args) != 3 {
		fmt.Fprintf(stderr, "grid %s: want MANIFEST STAGE OFFSET, got %q\n", slurm.TaskCommand, args)
		return 2
	}
	offset, err := strconv.Atoi(args[2])
	if err != nil {
		fmt.Fprintf(stderr, "grid %s: offset %q: %v\n", slurm.TaskCommand, args[2], err)
		return 2
	}
	m, err := slurm.ReadManifest(args[0])
	if err != nil {
		fmt.Fprintln(stderr, "grid:", err)
		return 1
	}
	backendName, err := chooseBackend("", m.Grid.Backend, m.Grid.File, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "grid:", err)
		return 1
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "grid", Output: stderr, Level: hclog.Warn})
	requeue, err := slurm.RunTask(context.Background(), m, args[1], offset,
		slurm.TaskOptions{Out: stdout, Options: orchestrator.Options{Logger: logger, Backend: backendName}})
	switch {
	case err != nil:
		fmt.Fprintln(stderr, "grid:", err)
		return 1
	case requeue:
		fmt.Fprintln(stdout, "grid: stopped before the time limit; requeueing this task")
		return slurm.ExitRequeue
	}
	return 0
}

// slurmMerge is the hidden `grid __slurm-merge MANIFEST` of a submission's
// merge job: it merges the shards into the run's database and writes the
// report with its figures.
func slurmMerge(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintf(stderr, "grid %s: want MANIFEST, got %q\n", slurm.MergeCommand, args)
		return 2
	}
	m, err := slurm.ReadManifest(args[0])
	if err != nil {
		fmt.Fprintln(stderr, "grid:", err)
		return 1
	}
	db, merged, err := orchestrator.OpenRunDir(m.Grid.RunDir)
	if err != nil {
		fmt.Fprintln(stderr, "grid:", err)
		return 1
	}
	defer db.Close()
	fmt.Fprintf(stdout, "merged %d jobs from %d shards into %s\n", merged.Jobs, merged.Shards, db.Path())
	reportMerge(stderr, merged)
	files, err := report.Write(db, m.Grid.Name, orchestrator.ReportDirOf(m.Grid.RunDir), report.Options{Plots: true})
	if err != nil {
		fmt.Fprintln(stderr, "grid:", err)
		return 1
	}
	for _, f := range files {
		fmt.Fprintln(stdout, "wrote", f)
	}
	return 0
}

// reportMerge names the shards a merge had to skip.
func reportMerge(w io.Writer, m orchestrator.ShardMerge) {
	for _, p := range m.Problems {
		fmt.Fprintln(w, "grid: skipped:", p)
	}
}

// statusLine is a job of `grid status`, with SLURM's view when the grid
// was submitted.
type statusLine struct {
	orchestrator.StatusRow
	Slurm *slurm.TaskView `json:"slurm,omitempty"`
}

func (r statusLine) slurmText() string {
	if r.Slurm == nil {
		return ""
	}
	return r.Slurm.String()
}

// slurmView is SLURM's view of the grid's submissions; nil when it was
// never submitted or SLURM cannot be asked (which is said on w).
func slurmView(runDir string, w io.Writer) *slurm.View {
	v, err := slurm.QueueOf(context.Background(), runDir, slurm.CLI{})
	if err != nil {
		fmt.Fprintln(w, "grid: SLURM's view is missing:", err)
		return nil
	}
	return v
}

func printArrays(w io.Writer, v *slurm.View) {
	if len(v.Arrays) == 0 {
		return
	}
	fmt.Fprintln(w, "\nSLURM arrays (submission stage job: tasks per state):")
	for _, a := range v.Arrays {
		fmt.Fprintln(w, " ", a)
	}
}

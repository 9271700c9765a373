package slurm

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// Cluster is what grid asks of SLURM. CLI runs SLURM's commands; tests of
// the planning use a fake.
type Cluster interface {
	// Submit runs sbatch with options, the script and its arguments, and
	// returns the job ID.
	Submit(ctx context.Context, options []string, script string, args []string) (string, error)
	// Job returns SLURM's records of a job or job array; none once SLURM
	// has forgotten it (MinJobAge after it ended).
	Job(ctx context.Context, jobID string) ([]TaskRecord, error)
	// MaxArraySize is the cluster's MaxArraySize: array indices must be
	// below it.
	MaxArraySize(ctx context.Context) (int, error)
}

// TaskRecord is one line of `scontrol show job -o`: one array task, or the
// pending tasks of an array not started yet, or a job that is no array.
type TaskRecord struct {
	JobID    string // the array's job ID (ArrayJobId), or the job's
	Tasks    []int  // the array indices it stands for; nil for a job that is no array
	State    string // JobState: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, ...
	Reason   string // why it is pending, or None
	Restarts int    // requeues so far
	ExitCode string // "0:0", "137:0", ...
}

// CLI is the Cluster of the SLURM commands on PATH (sbatch, scontrol).
type CLI struct{}

// Submit runs `sbatch --parsable`.
func (CLI) Submit(ctx context.Context, options []string, script string, args []string) (string, error) {
	argv := append(append(append([]string{"--parsable"}, options...), script), args...)
	out, err := run(ctx, "sbatch", argv...)
	if err != nil {
		return "", err
	}
	// --parsable prints "jobid" or "jobid;cluster".
	id, _, _ := strings.Cut(strings.TrimSpace(out), ";")
	if _, err := strconv.Atoi(id); err != nil {
		return "", fmt.Errorf("sbatch printed %q, not a job ID", out)
	}
	return id, nil
}

// Job runs `scontrol show job -o ID`.
func (CLI) Job(ctx context.Context, jobID string) ([]TaskRecord, error) {
	out, err := run(ctx, "scontrol", "show", "job", "-o", jobID)
	if err != nil {
		if strings.Contains(err.Error(), "Invalid job id") {
			return nil, nil
		}
		return nil, err
	}
	return parseJobRecords(out)
}

// MaxArraySize reads `scontrol show config`.
func (CLI) MaxArraySize(ctx context.Context) (int, error) {
	out, err := run(ctx, "scontrol", "show", "config")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(out, "\n") {
		key, value, ok := strings.Cut(line, "=")
		if ok && strings.TrimSpace(key) == "MaxArraySize" {
			return strconv.Atoi(strings.TrimSpace(value))
		}
	}
	return 0, fmt.Errorf("scontrol show config: no MaxArraySize")
}

func run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// parseJobRecords reads `scontrol show job -o`: one record a line, as
// Key=Value words. Only keys whose values hold no spaces are read.
func parseJobRecords(out string) ([]TaskRecord, error) {
	var recs []TaskRecord
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		kv := map[string]string{}
		for _, word := range strings.Fields(line) {
			if k, v, ok := strings.Cut(word, "="); ok {
				if _, seen := kv[k]; !seen {
					kv[k] = v
				}
			}
		}
		r := TaskRecord{JobID: kv["JobId"], State: kv["JobState"], Reason: kv["Reason"], ExitCode: kv["ExitCode"]}
		r.Restarts, _ = strconv.Atoi(kv["Restarts"])
		if a, ok := kv["ArrayJobId"]; ok {
			r.JobID = a
			tasks, err := expandRanges(kv["ArrayTaskId"])
			if err != nil {
				return nil, fmt.Errorf("scontrol show job: %w", err)
			}
			r.Tasks = tasks
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// live says whether a job in this state may still run (or is running).
func live(state string) bool {
	switch state {
	case "PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SUSPENDED", "CONFIGURING",
		"RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD":
		return true
	}
	return false
}

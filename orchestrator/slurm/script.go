package slurm

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/fomo-grid/grid/sweeps"
)

// ExitRequeue is an array task's exit status when it stopped at SIGUSR1
// with jobs left: its batch script then requeues it (EX_TEMPFAIL).
const ExitRequeue = 75

// Hidden subcommands the scripts start.
const (
	TaskCommand  = "__slurm-task"
	MergeCommand = "__slurm-merge"
)

func (m *Manifest) scriptPath(stage string) string {
	return filepath.Join(SubmissionDir(m.Grid.RunDir, m.Submission), stage+".sbatch")
}

func (m *Manifest) logDir() string {
	return filepath.Join(SubmissionDir(m.Grid.RunDir, m.Submission), "logs")
}

// script is the sbatch script of a stage. The array list, dependencies and
// offset of each array are given on the sbatch command line (sbatchArgs),
// so one script serves every array of a stage; its #SBATCH --array line is
// the first array's, for reading and for running it by hand.
func (m *Manifest) script(st Stage) string {
	var b strings.Builder
	b.WriteString("#!/bin/bash\n")
	if st.Name == sweeps.StageMerge {
		fmt.Fprintf(&b, "# grid %s, submission %s: merges the array tasks' results into the run's database\n", m.Grid.Name, m.Submission)
		b.WriteString("# and writes the report once the arrays have ended (written by `grid submit`).\n")
	} else {
		fmt.Fprintf(&b, "# grid %s, submission %s, stage %s (written by `grid submit`): array index a runs\n", m.Grid.Name, m.Submission, st.Name)
		b.WriteString("# the jobs of task OFFSET+a of this stage in manifest.json beside this script; OFFSET is\n")
		b.WriteString("# the first argument, 0 unless the stage was split into several arrays at MaxArraySize.\n")
	}
	for _, line := range m.directives(st) {
		fmt.Fprintf(&b, "#SBATCH %s\n", line)
	}
	if st.Name == sweeps.StageMerge {
		fmt.Fprintf(&b, "exec %s %s %s\n", shellQuote(m.Binary), MergeCommand, shellQuote(m.Path()))
		return b.String()
	}
	fmt.Fprintf(&b, `
offset=${1:-0}
# SIGUSR1 (the time limit is near) reaches only this shell: pass it on. grid
# stops its jobs, publishes what it has and exits %[1]d; then requeue.
trap 'kill -USR1 "$pid" 2>/dev/null' USR1
%[2]s %[3]s %[4]s %[5]s "$offset" &
pid=$!
# wait returns when a trapped signal arrives: wait again until grid exits.
wait "$pid"; status=$?
while kill -0 "$pid" 2>/dev/null; do wait "$pid"; status=$?; done
if [ "$status" -eq %[1]d ]; then
	scontrol requeue "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
fi
exit "$status"
`, ExitRequeue, shellQuote(m.Binary), TaskCommand, shellQuote(m.Path()), st.Name)
	return b.String()
}

// directives are the stage's #SBATCH options.
func (m *Manifest) directives(st Stage) []string {
	r := st.Resources
	lines := []string{"--job-name=grid-" + m.Grid.Name + "-" + st.Name}
	if st.Name == sweeps.StageMerge {
		lines = append(lines, outputOption(m.logDir(), "%x_%j.out"))
	} else {
		lines = append(lines,
			"--array="+arraySpec(st.Parts[0], r),
			outputOption(m.logDir(), "%x_%A_%a.out"),
			"--open-mode=append", // a requeued task appends to its log
			"--requeue")
		if r.SignalSeconds > 0 {
			lines = append(lines, fmt.Sprintf("--signal=B:USR1@%d", r.SignalSeconds))
		}
	}
	add := func(flag, value string) {
		if value != "" {
			lines = append(lines, flag+"="+value)
		}
	}
	add("--partition", r.Partition)
	add("--account", r.Account)
	add("--time", r.Time)
	add("--mem", r.Mem)
	if r.CPUs > 0 {
		add("--cpus-per-task", fmt.Sprint(r.CPUs))
	}
	if r.GPUs > 0 {
		add("--gres", fmt.Sprintf("gpu:%d", r.GPUs))
	}
	return append(lines, r.Extra...)
}

// outputOption is the --output directive of a log file in dir named by
// sbatch's pattern: a literal % in the folder is doubled (sbatch reads %x,
// %j and the like in the whole path), and a folder with a space is quoted,
// as sbatch splits an #SBATCH line at spaces outside double quotes.
func outputOption(dir, pattern string) string {
	path := strings.ReplaceAll(dir, "%", "%%") + string(filepath.Separator) + pattern
	if strings.ContainsAny(path, " \t") {
		path = `"` + path + `"`
	}
	return "--output=" + path
}

// arraySpec is a part's --array value with the stage's throttle.
func arraySpec(p Part, r sweeps.Resources) string {
	if r.Throttle > 0 {
		return fmt.Sprintf("%s%%%d", p.Indices, r.Throttle)
	}
	return p.Indices
}

// sbatchArgs are the command-line options and script arguments of one
// array: jobIDs resolves the dependencies on this submission's arrays.
func sbatchArgs(st Stage, p Part, jobIDs map[string]string) (options, args []string, err error) {
	var corr, anyOf []string
	for _, d := range p.After {
		id := d.JobID
		if d.Stage != "" {
			if id = jobIDs[partKey(d.Stage, d.Part)]; id == "" {
				return nil, nil, fmt.Errorf("%s array %d is not submitted", d.Stage, d.Part)
			}
		}
		if d.Type == "aftercorr" {
			corr = append(corr, id)
		} else {
			anyOf = append(anyOf, id)
		}
	}
	var deps []string
	if len(corr) > 0 {
		deps = append(deps, "aftercorr:"+strings.Join(corr, ":"))
	}
	if len(anyOf) > 0 {
		deps = append(deps, "afterany:"+strings.Join(anyOf, ":"))
	}
	if len(deps) > 0 {
		options = append(options, "--dependency="+strings.Join(deps, ","))
	}
	if len(corr) > 0 {
		// A train task that failed outright (killed, out of memory) can
		// never satisfy aftercorr: cancel its eval task rather than leave
		// it, and the merge job waiting on it, pending forever. Its jobs
		// stay pending in the database for the next submission.
		options = append(options, "--kill-on-invalid-dep=yes")
	}
	if st.Name != sweeps.StageMerge {
		options = append(options, "--array="+arraySpec(p, st.Resources))
		args = []string{fmt.Sprint(p.Offset)}
	}
	return options, args, nil
}

// shellQuote quotes s for bash.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

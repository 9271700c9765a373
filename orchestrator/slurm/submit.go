package slurm

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fomo-grid/grid/internal/atomicfile"
	"github.com/fomo-grid/grid/orchestrator"
	"github.com/fomo-grid/grid/results"
	"github.com/fomo-grid/grid/sweeps"
)

// SubmitOptions tune one `grid submit`.
type SubmitOptions struct {
	// DryRun prints the scripts and sbatch commands, and writes and submits
	// nothing.
	DryRun bool
	Out    io.Writer // what is submitted (and with DryRun, the scripts)
	// Cluster is SLURM; nil means its commands (CLI).
	Cluster Cluster
	// Binary is the grid executable the tasks run; "" means this one. It
	// must be reachable at the same path on the compute nodes.
	Binary string
	// Backend overrides the grid file's backend setting for the tasks.
	Backend string
}

// Submit submits the grid's jobs that are neither done nor held by a live
// array task of an earlier submission, as a new submission; nil when there
// is nothing to submit. Shards are merged first, so jobs finished on the
// cluster count as done.
func Submit(ctx context.Context, gridFile string, opts SubmitOptions) (*Manifest, error) {
	if opts.Cluster == nil {
		opts.Cluster = CLI{}
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	s, err := orchestrator.Open(gridFile)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if err := s.CheckPaths(); err != nil {
		return nil, err
	}
	m, err := newManifest(ctx, s, opts)
	if err != nil || m == nil {
		return nil, err
	}
	if opts.DryRun {
		return m, m.printDryRun(opts.Out)
	}
	if m.Submission, err = nextSubmission(m.Grid.RunDir, false); err != nil {
		return nil, err
	}
	if err := s.ReleaseStaleClaims(jobIDs(m.Jobs), "grid submit"); err != nil {
		return nil, err
	}
	if err := m.writeFiles(); err != nil {
		return nil, err
	}
	return m, m.submit(ctx, opts.Cluster, opts.Out)
}

// newManifest plans the submission of what is left to do.
func newManifest(ctx context.Context, s *orchestrator.Session, opts SubmitOptions) (*Manifest, error) {
	if _, err := s.MergeShards(); err != nil {
		return nil, err
	}
	view, err := Queue(ctx, s.RunDir, opts.Cluster)
	if err != nil {
		return nil, err
	}
	queued := view.Queued()
	rows, err := s.DB.Jobs(s.GridID)
	if err != nil {
		return nil, err
	}
	state := map[string]results.Job{}
	for _, r := range rows {
		state[r.ID] = r
	}
	m := &Manifest{Version: manifestVersion, Created: time.Now().UTC(), Attempts: map[string]int{}}
	var done, inQueue int
	for _, j := range s.Grid.Jobs {
		switch _, q := queued[j.ID]; {
		case state[j.ID].State == results.StateDone:
			done++
		case q:
			inQueue++
		default:
			m.Jobs = append(m.Jobs, j)
			if n := state[j.ID].Attempts; n > 0 {
				m.Attempts[j.ID] = n
			}
		}
	}
	if len(m.Jobs) == 0 {
		fmt.Fprintf(opts.Out, "nothing to submit: of %d jobs, %d are done and %d queued on SLURM (see `grid status`)\n",
			len(s.Grid.Jobs), done, inQueue)
		return nil, nil
	}
	m.DoneBefore = doneDeps(m.Jobs, state)
	if err := m.describeGrid(s, opts); err != nil {
		return nil, err
	}
	maxArray, err := maxArraySize(ctx, s.Grid.Slurm, opts.Cluster)
	if err != nil {
		return nil, err
	}
	m.Stages = plan(m.Jobs, s.Grid.Slurm, maxArray, queued)
	if opts.DryRun {
		m.Submission, err = nextSubmission(m.Grid.RunDir, true)
	}
	return m, err
}

// doneDeps are the dependencies of jobs, outside them, that are done.
func doneDeps(jobs []sweeps.Job, state map[string]results.Job) []string {
	in := map[string]bool{}
	for _, j := range jobs {
		in[j.ID] = true
	}
	seen := map[string]bool{}
	var out []string
	for _, j := range jobs {
		for _, d := range j.Deps {
			if !in[d] && !seen[d] && state[d].State == results.StateDone {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	return out
}

func (m *Manifest) describeGrid(s *orchestrator.Session, opts SubmitOptions) error {
	file, err := filepath.Abs(s.Grid.File)
	if err != nil {
		return err
	}
	runDir, err := filepath.Abs(s.RunDir)
	if err != nil {
		return err
	}
	m.Grid = GridInfo{Name: s.Grid.Name, File: file, Dir: filepath.Dir(file), RunDir: runDir, Retries: s.Grid.Retries,
		Backend: s.Grid.Backend}
	if opts.Backend != "" {
		m.Grid.Backend = opts.Backend
	}
	m.Binary = opts.Binary
	if m.Binary == "" {
		if m.Binary, err = os.Executable(); err != nil {
			return err
		}
		if m.Binary, err = filepath.EvalSymlinks(m.Binary); err != nil {
			return err
		}
	}
	return nil
}

// maxArraySize is the [slurm] table's max_array_size, else the cluster's.
func maxArraySize(ctx context.Context, cfg sweeps.Slurm, cluster Cluster) (int, error) {
	if cfg.MaxArraySize > 0 {
		return cfg.MaxArraySize, nil
	}
	n, err := cluster.MaxArraySize(ctx)
	if err != nil {
		return 0, fmt.Errorf("MaxArraySize of the cluster (or set max_array_size in [slurm]): %w", err)
	}
	return n, nil
}

func jobIDs(jobs []sweeps.Job) []string {
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	return ids
}

// writeFiles writes the manifest, the scripts and the logs directory.
func (m *Manifest) writeFiles() error {
	if err := os.MkdirAll(m.logDir(), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(orchestrator.ShardDir(m.Grid.RunDir), 0o755); err != nil {
		return err
	}
	if err := m.write(); err != nil {
		return err
	}
	for _, st := range m.Stages {
		if err := atomicfile.WriteFile(m.scriptPath(st.Name), []byte(m.script(st)), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// submit runs sbatch for every array, in dependency order, recording each
// job ID as soon as SLURM gives it. If an sbatch call fails, the arrays
// submitted so far stay queued and the rest of the jobs stay unqueued: the
// next `grid submit` takes them.
func (m *Manifest) submit(ctx context.Context, cluster Cluster, out io.Writer) error {
	dir := SubmissionDir(m.Grid.RunDir, m.Submission)
	record := Record{JobIDs: map[string]string{}}
	fmt.Fprintf(out, "submission %s: %s of grid %s (%s)\n", m.Submission, plural(len(m.Jobs), "job"), m.Grid.Name, dir)
	for _, st := range m.Stages {
		for p, part := range st.Parts {
			options, args, err := sbatchArgs(st, part, record.JobIDs)
			if err != nil {
				return err
			}
			id, err := cluster.Submit(ctx, options, m.scriptPath(st.Name), args)
			if err != nil {
				return fmt.Errorf("submission %s, %s array %d: %w", m.Submission, st.Name, p, err)
			}
			record.JobIDs[partKey(st.Name, p)] = id
			if err := record.write(dir); err != nil {
				return err
			}
			fmt.Fprintf(out, "  %-5s %s: %s\n", st.Name, id, describePart(st, part))
		}
	}
	return nil
}

func describePart(st Stage, p Part) string {
	if p.Indices == "" {
		return "merges the results and writes the report when the arrays have ended"
	}
	idx, _ := expandRanges(p.Indices)
	jobs := 0
	for _, i := range idx {
		jobs += len(st.Tasks[p.Offset+i])
	}
	return fmt.Sprintf("%s in %s (--array=%s)", plural(jobs, "job"), plural(len(idx), "task"), arraySpec(p, st.Resources))
}

// printDryRun shows what Submit would write and run.
func (m *Manifest) printDryRun(out io.Writer) error {
	fmt.Fprintf(out, "dry run: submission %s would submit %s of grid %s; no script is written and nothing submitted\n",
		m.Submission, plural(len(m.Jobs), "job"), m.Grid.Name)
	placeholders := map[string]string{}
	for _, st := range m.Stages {
		fmt.Fprintf(out, "\n==> %s <==\n%s", m.scriptPath(st.Name), m.script(st))
		for p, part := range st.Parts {
			options, args, err := sbatchArgs(st, part, placeholders)
			if err != nil {
				return err
			}
			placeholders[partKey(st.Name, p)] = fmt.Sprintf("$%s_%d", strings.ToUpper(st.Name), p)
			fmt.Fprintf(out, "\n%s=$(sbatch --parsable %s %s %s)   # %s\n", strings.TrimPrefix(placeholders[partKey(st.Name, p)], "$"),
				strings.Join(options, " "), m.scriptPath(st.Name), strings.Join(args, " "), describePart(st, part))
		}
	}
	return nil
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

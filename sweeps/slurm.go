package sweeps

import (
	"regexp"
	"strconv"
	"strings"
)

// SLURM stages: `grid submit` writes one sbatch script per stage. Train jobs
// run in the train stage, eval jobs in the eval stage, and one merge job
// gathers the results when both have ended.
const (
	StageTrain = "train"
	StageEval  = "eval"
	StageMerge = "merge"
)

// Stages lists the SLURM stages in the order they are submitted.
var Stages = []string{StageTrain, StageEval, StageMerge}

// Slurm is the grid file's [slurm] table: what `grid submit` asks SLURM
// for. None of it enters a job's configuration, so it never changes job IDs.
type Slurm struct {
	// MaxArraySize caps the tasks of one array; 0 means the cluster's
	// MaxArraySize (scontrol show config). Larger stages are split.
	MaxArraySize int
	stages       map[string]Resources
}

// Resources are the settings of one stage's array.
type Resources struct {
	Partition string `json:"partition,omitempty"` // --partition; "" leaves SLURM's default
	Account   string `json:"account,omitempty"`   // --account
	Time      string `json:"time,omitempty"`      // --time, in SLURM's notation ("90", "02:00:00", "1-12")
	Mem       string `json:"mem,omitempty"`       // --mem, e.g. "16G"
	GPUs      int    `json:"gpus,omitempty"`      // --gres=gpu:N; 0 requests none
	CPUs      int    `json:"cpus,omitempty"`      // --cpus-per-task; 0 leaves SLURM's default
	// JobsPerTask is how many grid jobs one array task runs (one after
	// another, or Workers at a time).
	JobsPerTask int `json:"jobs_per_task"`
	// Throttle is the array's %M: at most this many tasks run at once; 0
	// is no limit.
	Throttle int `json:"throttle,omitempty"`
	// Workers is how many jobs one task runs at once (worker processes).
	Workers int `json:"workers"`
	// SignalSeconds is how long before its time limit a task gets SIGUSR1
	// to stop, requeue itself and resume; 0 sends no signal. The default
	// is 120 s, or half the time limit when that is shorter than 4 minutes.
	SignalSeconds int `json:"signal_seconds"`
	// Extra are more #SBATCH options, each written as on the sbatch
	// command line ("--qos=high", "--constraint=a100").
	Extra []string `json:"extra,omitempty"`
}

// builtinResources are the [slurm] settings a file does not give.
// SignalSeconds is settled by withSignal once the time limit is known.
var builtinResources = Resources{JobsPerTask: 1, Workers: 1, SignalSeconds: signalDefault}

const (
	signalDefault = -1  // not given: defaultSignalSeconds, or half a short time limit
	defaultSignal = 120 // SLURM's timing is coarse (a 50 s warning came 27 s early): leave a margin
)

// withSignal settles a default warning time against the time limit.
func (r Resources) withSignal() Resources {
	if r.SignalSeconds != signalDefault {
		return r
	}
	r.SignalSeconds = defaultSignal
	if limit, ok := SlurmSeconds(r.Time); ok && limit < 2*defaultSignal {
		r.SignalSeconds = limit / 2
	}
	return r
}

// Stage returns the settings of a stage: the [slurm] table's, with the
// stage's own table ([slurm.train], [slurm.eval], [slurm.merge]) over them.
func (s Slurm) Stage(name string) Resources {
	if r, ok := s.stages[name]; ok {
		return r
	}
	return builtinResources.withSignal()
}

// slurmKeys are the keys of [slurm] and of its stage tables.
var slurmKeys = []string{"partition", "account", "time", "mem", "gpus", "cpus", "jobs_per_task", "throttle", "workers", "signal_seconds", "extra"}

// sbatchOptionsOwnedByGrid may not be given as extra lines: grid writes them
// itself, and another value would break how tasks find their jobs, log,
// depend on each other or requeue.
var sbatchOptionsOwnedByGrid = []string{"--array", "--dependency", "--output", "--error", "--job-name", "--requeue",
	"--no-requeue", "--signal", "--open-mode", "--parsable", "--wrap", "--kill-on-invalid-dep", "-a", "-d", "-o", "-e", "-J"}

var (
	// slurmTimeRE is sbatch's --time notation: minutes, minutes:seconds,
	// hours:minutes:seconds, days-hours, days-hours:minutes,
	// days-hours:minutes:seconds.
	slurmTimeRE = regexp.MustCompile(`^(?:(\d+)-(\d+)(?::(\d+)(?::(\d+))?)?|(\d+)(?::(\d+)(?::(\d+))?)?)$`)
	slurmMemRE  = regexp.MustCompile(`^[1-9][0-9]*[KMGT]?$`)
	slurmNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
)

// decodeSlurm reads the [slurm] table.
func (d *decoder) decodeSlurm(s scope, v any) (Slurm, error) {
	out := Slurm{stages: map[string]Resources{}}
	t, err := s.table(v)
	if err != nil {
		return out, err
	}
	base := builtinResources
	for _, k := range s.keys(t) {
		ks := s.child(k)
		switch {
		case k == "max_array_size":
			out.MaxArraySize, err = ks.integer(t[k], 2)
		case contains(Stages, k):
			continue // after the table's own keys, which the stages inherit
		case contains(slurmKeys, k):
			err = ks.resource(&base, k, t[k])
		default:
			err = ks.errorf("unknown key (known: %s, max_array_size, and the stage tables [slurm.%s])",
				strings.Join(slurmKeys, ", "), strings.Join(Stages, "], [slurm."))
		}
		if err != nil {
			return out, err
		}
	}
	if err := s.checkSignal(base); err != nil {
		return out, err
	}
	for _, stage := range Stages {
		r := base
		if stage == StageMerge {
			r.GPUs = 0 // merging needs no GPU unless [slurm.merge] asks
		}
		if sv, ok := t[stage]; ok {
			if r, err = s.child(stage).stageResources(r, sv); err != nil {
				return out, err
			}
		}
		out.stages[stage] = r.withSignal()
	}
	return out, nil
}

// stageResources applies a stage table's keys over the [slurm] settings.
// Its extra lines come after the table's.
func (s scope) stageResources(r Resources, v any) (Resources, error) {
	t, err := s.table(v)
	if err != nil {
		return r, err
	}
	r.Extra = append([]string(nil), r.Extra...)
	for _, k := range s.keys(t) {
		ks := s.child(k)
		if !contains(slurmKeys, k) {
			return r, ks.errorf("unknown key (known: %s)", strings.Join(slurmKeys, ", "))
		}
		if err := ks.resource(&r, k, t[k]); err != nil {
			return r, err
		}
	}
	return r, s.checkSignal(r)
}

// resource sets one key of a [slurm] or stage table.
func (s scope) resource(r *Resources, key string, v any) error {
	var err error
	switch key {
	case "partition", "account":
		var x string
		if x, err = s.str(v); err == nil && !slurmNameRE.MatchString(x) {
			err = s.errorf("bad name %q: use letters, digits, '.', '_' and '-'", x)
		}
		if key == "partition" {
			r.Partition = x
		} else {
			r.Account = x
		}
	case "time":
		if r.Time, err = s.str(v); err == nil && !slurmTimeRE.MatchString(r.Time) {
			err = s.errorf("bad time %q (use minutes, \"HH:MM:SS\", \"D-HH\" or \"D-HH:MM:SS\")", r.Time)
		}
	case "mem":
		if r.Mem, err = s.str(v); err == nil && !slurmMemRE.MatchString(r.Mem) {
			err = s.errorf("bad memory %q (a number with an optional unit K, M, G or T, e.g. \"16G\")", r.Mem)
		}
	case "gpus":
		r.GPUs, err = s.integer(v, 0)
	case "cpus":
		r.CPUs, err = s.integer(v, 1)
	case "jobs_per_task":
		r.JobsPerTask, err = s.integer(v, 1)
	case "throttle":
		r.Throttle, err = s.integer(v, 0)
	case "workers":
		r.Workers, err = s.integer(v, 1)
	case "signal_seconds":
		r.SignalSeconds, err = s.integer(v, 0)
	case "extra":
		var lines []string
		if lines, err = s.stringList(v, validExtraLine); err == nil {
			r.Extra = append(r.Extra, lines...)
		}
	}
	return err
}

func validExtraLine(s scope, line string) error {
	if !strings.HasPrefix(line, "-") || strings.ContainsAny(line, "\n\r") {
		return s.errorf("%q: write an sbatch option as on the command line, e.g. \"--qos=high\"", line)
	}
	name, _, _ := strings.Cut(strings.Fields(line)[0], "=")
	if contains(sbatchOptionsOwnedByGrid, name) {
		return s.errorf("%q: grid sets %s itself", line, name)
	}
	return nil
}

// checkSignal refuses a warning signal that would come before the task
// starts: SIGUSR1 is sent signal_seconds before the time limit.
func (s scope) checkSignal(r Resources) error {
	limit, ok := SlurmSeconds(r.Time)
	if ok && r.SignalSeconds != signalDefault && r.SignalSeconds > 0 && r.SignalSeconds >= limit {
		return s.child("signal_seconds").errorf("%d s is not less than the time limit %q", r.SignalSeconds, r.Time)
	}
	return nil
}

// SlurmSeconds converts sbatch's --time notation to seconds; ok is false
// for "" and for text that is not in that notation.
func SlurmSeconds(t string) (seconds int, ok bool) {
	m := slurmTimeRE.FindStringSubmatch(t)
	if m == nil {
		return 0, false
	}
	n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
	if m[1] != "" { // days-hours[:minutes[:seconds]]
		return ((n(1)*24+n(2))*60+n(3))*60 + n(4), true
	}
	switch {
	case m[7] != "": // hours:minutes:seconds
		return (n(5)*60+n(6))*60 + n(7), true
	case m[6] != "": // minutes:seconds
		return n(5)*60 + n(6), true
	}
	return n(5) * 60, true // minutes
}

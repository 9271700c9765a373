package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/fomo-grid/grid/sweeps"
	"github.com/fomo-grid/grid/worker"
)

// Display shows a run's progress. Its methods are called from several
// goroutines.
type Display interface {
	Start(total, alreadyDone int)
	JobStarted(job sweeps.Job, attempt int) JobBar
	JobFailed(job sweeps.Job, err error, final bool)
	Summary(Summary)
	Stop()
}

// JobBar follows one running job.
type JobBar interface {
	Progress(worker.Progress)
	// Done ends the job's display: err is nil when it finished, a
	// context error when the run was interrupted.
	Done(err error)
}

type nopDisplay struct{}

func (nopDisplay) Start(int, int)                    {}
func (nopDisplay) JobStarted(sweeps.Job, int) JobBar { return nopBar{} }
func (nopDisplay) JobFailed(sweeps.Job, error, bool) {}
func (nopDisplay) Summary(Summary)                   {}
func (nopDisplay) Stop()                             {}

type nopBar struct{}

func (nopBar) Progress(worker.Progress) {}
func (nopBar) Done(error)               {}

// NewBars is the interactive display: a bar for the grid (done / failed /
// running) and one bar per running job with its epoch, loss and prompt.
func NewBars(w io.Writer) Display { return &bars{w: w} }

type bars struct {
	w       io.Writer
	p       *mpb.Progress
	total   *mpb.Bar
	mu      sync.Mutex
	done    int
	failed  int
	running int
}

func (b *bars) Start(total, alreadyDone int) {
	b.p = mpb.New(mpb.WithOutput(b.w), mpb.WithWidth(40), mpb.WithRefreshRate(150*time.Millisecond))
	b.done = alreadyDone
	b.total = b.p.AddBar(int64(total),
		mpb.PrependDecorators(decor.Name("grid ", decor.WC{W: 6}), decor.CountersNoUnit("%d/%d jobs")),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
			b.mu.Lock()
			defer b.mu.Unlock()
			return fmt.Sprintf(" done %d  failed %d  running %d", b.done, b.failed, b.running)
		})),
		mpb.BarPriority(-1),
	)
	b.total.SetCurrent(int64(alreadyDone))
}

func (b *bars) JobStarted(job sweeps.Job, attempt int) JobBar {
	b.mu.Lock()
	b.running++
	b.mu.Unlock()
	jb := &jobBar{parent: b}
	name := shorten(job.Name, 44)
	if attempt > 1 {
		name += fmt.Sprintf(" (try %d)", attempt)
	}
	// Total 0: mpb never completes the bar by itself (it is dropped in
	// Done); SetTotal later only sets what is drawn.
	jb.bar = b.p.AddBar(0,
		mpb.PrependDecorators(decor.Name(name, decor.WC{W: 46, C: decor.DindentRight})),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
			jb.mu.Lock()
			defer jb.mu.Unlock()
			return jb.status
		})),
		mpb.BarRemoveOnComplete(),
	)
	return jb
}

func (b *bars) JobFailed(job sweeps.Job, err error, final bool) {
	what := "will retry"
	if final {
		what = "failed"
	}
	b.p.Write([]byte(fmt.Sprintf("%s %s: %v\n", what, job.Name, oneLine(err.Error()))))
}

func (b *bars) Summary(s Summary) {}

func (b *bars) Stop() {
	if b.total != nil && !b.total.Completed() {
		b.total.Abort(false)
	}
	b.p.Wait()
}

type jobBar struct {
	parent *bars
	bar    *mpb.Bar
	mu     sync.Mutex
	status string
	steps  int64
}

func (j *jobBar) Progress(p worker.Progress) {
	j.mu.Lock()
	j.status = fmt.Sprintf(" epoch %d/%d  loss %.4f  lr %.2g  %q", p.Epoch+1, p.Epochs, p.Loss, p.LR, p.Prompt)
	j.mu.Unlock()
	if int64(p.Steps) != j.steps {
		j.steps = int64(p.Steps)
		j.bar.SetTotal(j.steps, false)
	}
	j.bar.SetCurrent(int64(p.Step + 1))
}

func (j *jobBar) Done(err error) {
	b := j.parent
	b.mu.Lock()
	b.running--
	switch {
	case err == nil:
		b.done++
	case !interrupted(err):
		b.failed++
	}
	b.mu.Unlock()
	if err == nil {
		b.total.Increment()
	}
	j.bar.Abort(true)
}

// NewLog is the display for logs and pipes: one line per job event and per
// finished epoch.
func NewLog(w io.Writer) Display { return &logDisplay{w: w} }

type logDisplay struct {
	mu    sync.Mutex
	w     io.Writer
	total int
	done  int
}

func (l *logDisplay) printf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, time.Now().Format("15:04:05")+" "+format+"\n", a...)
}

func (l *logDisplay) Start(total, alreadyDone int) {
	l.total, l.done = total, alreadyDone
	l.printf("grid: %d jobs, %d already done", total, alreadyDone)
}

func (l *logDisplay) JobStarted(job sweeps.Job, attempt int) JobBar {
	l.printf("start %s (attempt %d)", job.Name, attempt)
	return &logBar{l: l, job: job, lastEpoch: -1}
}

func (l *logDisplay) JobFailed(job sweeps.Job, err error, final bool) {
	what := "retry"
	if final {
		what = "FAILED"
	}
	l.printf("%s %s: %s", what, job.Name, oneLine(err.Error()))
}

func (l *logDisplay) Summary(s Summary) {
	l.printf("grid: %d done now, %d done before, %d failed, %d blocked, %d total", s.Done, s.Skipped, s.Failed, s.Blocked, s.Total)
}

func (l *logDisplay) Stop() {}

type logBar struct {
	l         *logDisplay
	job       sweeps.Job
	lastEpoch int
	last      worker.Progress
}

func (b *logBar) Progress(p worker.Progress) {
	if b.lastEpoch >= 0 && p.Epoch != b.lastEpoch {
		b.l.printf("  %s epoch %d/%d loss %.4f lr %.3g prompt %q", b.job.Name, b.last.Epoch+1, b.last.Epochs, b.last.Loss, b.last.LR, b.last.Prompt)
	}
	b.lastEpoch, b.last = p.Epoch, p
}

func (b *logBar) Done(err error) {
	if b.lastEpoch >= 0 {
		p := b.last
		b.l.printf("  %s epoch %d/%d loss %.4f lr %.3g prompt %q", b.job.Name, p.Epoch+1, p.Epochs, p.Loss, p.LR, p.Prompt)
	}
	if interrupted(err) {
		b.l.printf("interrupted %s: back to pending", b.job.Name)
	}
	if err == nil {
		b.l.mu.Lock()
		b.l.done++
		n := b.l.done
		b.l.mu.Unlock()
		b.l.printf("done  %s [%d/%d]", b.job.Name, n, b.l.total)
	}
}

func interrupted(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n+1:]
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

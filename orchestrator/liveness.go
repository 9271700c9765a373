package orchestrator

import (
	"fmt"
	"sync"
	"time"

	"github.com/fomo-grid/grid/worker"
)

// Liveness tunes how a run tells a stuck job from a slow one. A worker
// beats every Heartbeat while it runs a job, whatever its engine does;
// silence for Silence means the process is stopped (SIGSTOP, a hung
// machine or NFS mount) and it is killed. An engine that hangs while its
// process lives is caught by the job's time limit: job_timeout from the
// grid file, else one derived from what was measured (derivedLimit).
// Either way the attempt fails with the reason and is retried.
type Liveness struct {
	Heartbeat time.Duration // default 5s
	Silence   time.Duration // default 1m
	Slack     time.Duration // added to a derived limit; default 5m
}

// Limit factors: a derived limit is limitFactor times the projected time,
// plus Slack.
const limitFactor = 3

func (l Liveness) withDefaults() Liveness {
	if l.Heartbeat <= 0 {
		l.Heartbeat = 5 * time.Second
	}
	if l.Silence <= 0 {
		l.Silence = time.Minute
	}
	if l.Slack <= 0 {
		l.Slack = 5 * time.Minute
	}
	return l
}

// livenessError is an attempt ended for being stuck or too slow. Like a
// crash, it may pass on a retry.
type livenessError struct{ msg string }

func (e *livenessError) Error() string { return e.msg }

// jobWatch follows one attempt: when its worker last spoke, and its time
// limit.
type jobWatch struct {
	live  Liveness
	start time.Time

	mu        sync.Mutex
	lastAlive time.Time
	deadline  time.Time // zero while there is no limit
	why       string    // how the limit was set
	fixed     bool      // job_timeout: the limit never moves
}

// newJobWatch starts watching an attempt that starts now. timeout is the
// grid file's job_timeout (0: none); evalLimit, for an eval job, is the
// limit derived from the evals this run finished (0: none yet).
func newJobWatch(live Liveness, now time.Time, timeout, evalLimit time.Duration) *jobWatch {
	w := &jobWatch{live: live, start: now, lastAlive: now}
	switch {
	case timeout > 0:
		w.deadline, w.fixed = now.Add(timeout), true
		w.why = fmt.Sprintf("job_timeout %v", timeout)
	case evalLimit > 0:
		w.deadline = now.Add(evalLimit)
		w.why = fmt.Sprintf("%d× the longest eval of this run, plus %v", limitFactor, live.Slack)
	}
	return w
}

// alive notes that the worker spoke.
func (w *jobWatch) alive(now time.Time) {
	w.mu.Lock()
	w.lastAlive = now
	w.mu.Unlock()
}

// progress moves a derived limit with the measured step time: the attempt
// so far, scaled to all its steps, is its projected time.
func (w *jobWatch) progress(p worker.Progress, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lastAlive = now
	if w.fixed || p.Steps <= 0 {
		return
	}
	elapsed := now.Sub(w.start)
	projected := time.Duration(float64(elapsed) * float64(p.Steps) / float64(p.Step+1))
	w.deadline = w.start.Add(limitFactor*projected + w.live.Slack)
	w.why = fmt.Sprintf("%d× the projected %v from its step time, plus %v", limitFactor, roundDuration(projected), w.live.Slack)
}

// roundDuration keeps two or three significant figures of a duration.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// check returns why the attempt must end now, or nil.
func (w *jobWatch) check(now time.Time, pid int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if silent := now.Sub(w.lastAlive); silent >= w.live.Silence {
		return &livenessError{fmt.Sprintf("worker pid %d sent nothing for %v (stopped or hung): killed", pid, roundDuration(silent))}
	}
	if !w.deadline.IsZero() && now.After(w.deadline) {
		return &livenessError{fmt.Sprintf("timed out after %v (limit: %s): killed", roundDuration(now.Sub(w.start)), w.why)}
	}
	return nil
}

// evalTimes keeps the longest eval of a run, from which eval jobs' limits
// are derived.
type evalTimes struct {
	mu      sync.Mutex
	longest time.Duration
}

func (e *evalTimes) add(d time.Duration) {
	e.mu.Lock()
	e.longest = max(e.longest, d)
	e.mu.Unlock()
}

// limit is the derived limit of an eval job; 0 until an eval finished.
func (e *evalTimes) limit(slack time.Duration) time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.longest == 0 {
		return 0
	}
	return limitFactor*e.longest + slack
}

//go:build linux

package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"
)

// process is go-plugin's runner for one worker process. It exists for three
// guarantees go-plugin's own runner does not give:
//
//   - No orphans: the worker gets Pdeathsig SIGKILL. Linux sends it when the
//     *thread* that forked the worker exits (golang/go#27505), so the worker
//     is started from a goroutine that locks its OS thread and keeps it until
//     the worker is gone. If the orchestrator is SIGKILLed, its threads die
//     and the kernel kills the worker.
//   - Whole group: the worker leads its own process group (Setpgid, which
//     also keeps a terminal's Ctrl-C away from it; the host decides). Kill
//     and the worker's own exit take the group down, so nothing the worker
//     started outlives it.
//   - A reason: the exit status and the first panic line the worker printed,
//     for the ErrWorkerDied message.
type process struct {
	cmd *exec.Cmd

	// Read ends of the worker's stdout (go-plugin's handshake) and stderr
	// (JSON log lines, panics). They are plain pipes rather than
	// cmd.StdoutPipe, because cmd.Wait closes those as soon as the process
	// exits, losing the unread tail (the panic message).
	stdout *closeOnEOF
	stderr *stderrTap

	mu     sync.Mutex
	pid    int  // 0 until started
	reaped bool // set once the group is no longer ours to signal

	exited chan struct{} // closed after the worker is reaped
	state  *os.ProcessState
}

func newProcess() *process {
	return &process{exited: make(chan struct{})}
}

// prepare takes the command to run; go-plugin calls it (via RunnerFunc)
// before Start.
func (p *process) prepare(cmd *exec.Cmd) error {
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		return err
	}
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		stdoutR.Close()
		stdoutW.Close()
		return err
	}
	cmd.Stdin = nil
	cmd.Stdout = stdoutW
	cmd.Stderr = stderrW
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pgid = 0
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	p.cmd = cmd
	p.stdout = &closeOnEOF{File: stdoutR}
	p.stderr = newStderrTap(stderrR)
	return nil
}

func (p *process) Start(context.Context) error {
	started := make(chan error, 1)
	go p.own(started)
	return <-started
}

// own starts the worker and stays with it until it is reaped. The goroutine
// never unlocks its thread: the thread is the worker's Pdeathsig anchor, and
// when this goroutine returns the runtime retires the thread.
func (p *process) own(started chan<- error) {
	runtime.LockOSThread()
	err := p.cmd.Start()
	// The child has its copies; ours would keep the pipes from reaching EOF.
	p.cmd.Stdout.(*os.File).Close()
	p.cmd.Stderr.(*os.File).Close()
	if err != nil {
		p.stdout.Close()
		p.stderr.Close()
		close(p.exited)
		started <- err
		return
	}
	pid := p.cmd.Process.Pid
	p.mu.Lock()
	p.pid = pid
	p.mu.Unlock()
	started <- nil

	// Wait for the exit without reaping: while the dead leader is a zombie its
	// PID cannot be reused, so signalling the group is still safe.
	var siginfo [128]byte
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, 1 /* P_PID */, uintptr(pid),
			uintptr(unsafe.Pointer(&siginfo)), syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		if errno != syscall.EINTR {
			break
		}
	}
	p.mu.Lock()
	_ = syscall.Kill(-pid, syscall.SIGKILL) // the worker's leftover children
	p.reaped = true
	p.mu.Unlock()
	_ = p.cmd.Wait()
	p.state = p.cmd.ProcessState
	close(p.exited)
}

// kill SIGKILLs the worker's process group.
func (p *process) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	// pid 0 would signal our own group.
	if p.pid > 0 && !p.reaped {
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	}
}

func (p *process) processID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

func (p *process) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// exitReason describes how the worker ended, e.g. "signal: killed" or
// "exit status 2: panic: out of memory". Call it after exited is closed.
func (p *process) exitReason() string {
	reason := "never started"
	if p.state != nil {
		reason = p.state.String()
	}
	if note := p.stderr.note(); note != "" {
		reason += ": " + note
	}
	return reason
}

// runner.Runner, as go-plugin drives it.

func (p *process) Wait(context.Context) error {
	<-p.exited
	if p.state != nil && !p.state.Success() {
		return errors.New(p.state.String())
	}
	return nil
}

func (p *process) Kill(context.Context) error {
	p.kill()
	return nil
}

func (p *process) ID() string {
	if pid := p.processID(); pid > 0 {
		return strconv.Itoa(pid)
	}
	return ""
}

func (p *process) Name() string          { return p.cmd.Path }
func (p *process) Stdout() io.ReadCloser { return p.stdout }
func (p *process) Stderr() io.ReadCloser { return p.stderr }

func (p *process) Diagnose(context.Context) string {
	return fmt.Sprintf("The worker command %q did not complete go-plugin's handshake: it must be this grid binary's %q subcommand, which calls worker.ServeEngine (worker protocol %d).",
		p.cmd.Args, Subcommand, ProtocolVersion)
}

func (p *process) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (p *process) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}

// closeOnEOF releases a pipe's read end once the writer side is done.
type closeOnEOF struct{ *os.File }

func (r *closeOnEOF) Read(b []byte) (int, error) {
	n, err := r.File.Read(b)
	if err != nil {
		r.File.Close()
		if !errors.Is(err, io.EOF) {
			err = io.EOF
		}
	}
	return n, err
}

// stderrTap passes the worker's stderr through to go-plugin and keeps the
// first line of a Go panic or fatal error, the most useful words about why a
// worker died.
type stderrTap struct {
	file *os.File
	eof  chan struct{}
	once sync.Once

	mu        sync.Mutex
	line      []byte // the current, unfinished line (bounded)
	firstNote string
}

const maxTapLine = 1024

func newStderrTap(f *os.File) *stderrTap {
	return &stderrTap{file: f, eof: make(chan struct{})}
}

func (t *stderrTap) Read(b []byte) (int, error) {
	n, err := t.file.Read(b)
	t.observe(b[:n])
	if err != nil {
		t.Close()
		if !errors.Is(err, io.EOF) {
			err = io.EOF
		}
	}
	return n, err
}

func (t *stderrTap) Close() error {
	t.once.Do(func() {
		t.file.Close()
		close(t.eof)
	})
	return nil
}

func (t *stderrTap) observe(b []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(b) > 0 {
		end := bytes.IndexByte(b, '\n')
		chunk := b
		if end >= 0 {
			chunk = b[:end]
		}
		if room := maxTapLine - len(t.line); room > 0 {
			t.line = append(t.line, chunk[:min(room, len(chunk))]...)
		}
		if end < 0 {
			return
		}
		t.endLine()
		b = b[end+1:]
	}
}

func (t *stderrTap) endLine() {
	line := string(bytes.TrimSpace(t.line))
	t.line = t.line[:0]
	if t.firstNote == "" && (strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ")) {
		t.firstNote = line
	}
}

func (t *stderrTap) note() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.firstNote
}

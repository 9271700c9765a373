package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// ErrWorkerDied is wrapped by every error that means the worker process is
// gone (crashed, killed, or unreachable and therefore killed). The job it was
// running is lost; start a new worker to go on.
var ErrWorkerDied = errors.New("worker died")

const (
	defaultStartTimeout = 2 * time.Minute
	// deathGrace is how long a broken call waits for the worker's exit to be
	// seen before the worker is declared unreachable and killed.
	deathGrace = 5 * time.Second
	// killGrace bounds go-plugin's polite shutdown (its Shutdown call can
	// block on a stopped worker) before the process group is SIGKILLed.
	killGrace = 5 * time.Second
	// maxSocketBase keeps the unix socket path under the 108-byte limit:
	// go-plugin adds "/plugin-dirNNNNNNNNNN/pluginNNNNNNNNNN" to it.
	maxSocketBase = 60
)

// Options configures Start.
type Options struct {
	// Command returns the unstarted worker command. The default runs this
	// executable with Subcommand. Its Stdin, Stdout, Stderr and process
	// group are taken over by Start.
	Command func() *exec.Cmd
	// Logger receives go-plugin's messages and the worker's log lines. The
	// worker logs at this logger's level. Default: warnings and errors on
	// stderr.
	Logger hclog.Logger
	// Env is added to the worker's environment (after the command's own, or
	// this process's when the command sets none).
	Env []string
	// Backend is the backend setting the worker's engine is to compute on
	// ("cpu", "cuda", "auto"; "" leaves it to the worker). The worker
	// process reads it with BackendSetting.
	Backend string
	// StartTimeout bounds the wait for the worker's handshake (default two
	// minutes); a ctx passed to Start can end it sooner.
	StartTimeout time.Duration
}

// Client is a running worker. Its methods may be called from several
// goroutines; the worker runs one job at a time and queues the rest.
type Client struct {
	plugin *plugin.Client
	conn   *grpc.ClientConn
	proc   *process
	logger hclog.Logger
	killMu sync.Mutex
}

// Start launches a worker process and waits until it answers. If ctx ends
// first, the worker is killed and ctx's error is returned.
func Start(ctx context.Context, opts Options) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = hclog.New(&hclog.LoggerOptions{Name: "grid", Level: hclog.Warn, Output: os.Stderr})
	}
	command := opts.Command
	if command == nil {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("start worker: locate own executable: %w", err)
		}
		command = func() *exec.Cmd { return exec.Command(exe, Subcommand) }
	}
	startTimeout := opts.StartTimeout
	if startTimeout <= 0 {
		startTimeout = defaultStartTimeout
	}

	proc := newProcess()
	pluginClient := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  handshake,
		Plugins:          plugin.PluginSet{pluginName: &workerPlugin{}},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     startTimeout,
		Logger:           logger,
		// The host environment is added in workerEnv, below Options.Env.
		SkipHostEnv:      true,
		UnixSocketConfig: &plugin.UnixSocketConfig{TempDir: socketBaseDir()},
		// After plugin.Serve the worker's os.Stdout and os.Stderr are
		// forwarded here; engine code printing there should not vanish.
		SyncStdout: logger.Named("stdout").StandardWriter(&hclog.StandardLoggerOptions{ForceLevel: hclog.Info}),
		SyncStderr: logger.Named("stderr").StandardWriter(&hclog.StandardLoggerOptions{ForceLevel: hclog.Warn}),
		RunnerFunc: func(_ hclog.Logger, spec *exec.Cmd, _ string) (runner.Runner, error) {
			cmd := command()
			if cmd == nil {
				return nil, errors.New("worker command is nil")
			}
			cmd.Env = workerEnv(cmd.Env, opts.Env, opts.Backend, logger, spec.Env)
			if err := proc.prepare(cmd); err != nil {
				return nil, err
			}
			return proc, nil
		},
	})

	stopWatching := context.AfterFunc(ctx, proc.kill)
	rpcClient, err := pluginClient.Client()
	if !stopWatching() && err == nil {
		err = ctx.Err() // ctx ended after the handshake but the worker is killed
	}
	if err != nil {
		pluginClient.Kill()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("start worker: %w", ctx.Err())
		}
		return nil, fmt.Errorf("start worker: %w", err)
	}
	raw, err := rpcClient.Dispense(pluginName)
	if err != nil {
		pluginClient.Kill()
		return nil, fmt.Errorf("start worker: %w", err)
	}
	c := &Client{plugin: pluginClient, conn: raw.(*grpc.ClientConn), proc: proc, logger: logger}
	info, err := c.Info(ctx)
	if err != nil {
		c.Kill()
		return nil, fmt.Errorf("start worker: %w", err)
	}
	if info.ProtocolVersion != ProtocolVersion {
		c.Kill()
		return nil, fmt.Errorf("start worker: worker speaks protocol %d, want %d", info.ProtocolVersion, ProtocolVersion)
	}
	return c, nil
}

// workerEnv orders the worker's environment so that later entries win (as
// os/exec does for duplicates): the base environment, then Options.Env, then
// the backend and the log level, then go-plugin's handshake variables.
func workerEnv(cmdEnv, extra []string, backend string, logger hclog.Logger, pluginEnv []string) []string {
	env := cmdEnv
	if env == nil {
		env = os.Environ()
	}
	env = append(env[:len(env):len(env)], extra...)
	if backend != "" {
		env = append(env, envBackend+"="+backend)
	}
	if level := logger.GetLevel(); level != hclog.NoLevel {
		env = append(env, envLogLevel+"="+level.String())
	}
	return append(env, pluginEnv...)
}

// BackendSetting is, in a worker process, the backend setting its host
// asked for (Options.Backend; "" when none).
func BackendSetting() string { return os.Getenv(envBackend) }

// socketBaseDir picks where go-plugin makes the worker's socket directory: the
// temporary directory unless its path is so long that the socket path would
// pass the 108-byte limit of unix sockets (hashicorp/terraform#22198).
func socketBaseDir() string {
	if dir := os.TempDir(); len(dir) <= maxSocketBase {
		return dir
	}
	return "/tmp"
}

// PID is the worker's process ID (also its process group ID).
func (c *Client) PID() int { return c.proc.processID() }

// Exited reports whether the worker process has ended.
func (c *Client) Exited() bool { return c.proc.hasExited() }

// Kill ends the worker: a polite shutdown first (which cancels a running job),
// then SIGKILL to its whole process group. It waits until the worker is gone
// and may be called any number of times, also after the worker died.
func (c *Client) Kill() {
	c.killMu.Lock()
	defer c.killMu.Unlock()
	done := make(chan struct{})
	go func() {
		c.plugin.Kill()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(killGrace):
		c.logger.Warn("worker did not shut down; killing its process group", "pid", c.PID())
		c.proc.kill()
		<-done
	}
	// go-plugin's polite path may return before the exit has been reaped.
	c.proc.kill()
	<-c.proc.exited
}

// Abort ends the worker at once: SIGKILL to its process group, without the
// polite shutdown of Kill, which a stopped or hung worker would never answer
// (Kill would wait killGrace for it). It waits until the worker is gone.
func (c *Client) Abort() {
	c.proc.kill()
	c.Kill()
}

// Info asks the worker to describe itself.
func (c *Client) Info(ctx context.Context) (Info, error) {
	if c.Exited() {
		return Info{}, c.died()
	}
	var info Info
	err := c.conn.Invoke(ctx, infoMethod, &infoRequest{}, &info, grpc.CallContentSubtype(codecName))
	if err != nil {
		return Info{}, c.callError(ctx, err)
	}
	return info, nil
}

// Run sends task to the worker and waits for its result, calling onProgress
// (if not nil) for every progress event, in order, on the calling goroutine.
// onProgress should return quickly: a slow reader holds the engine back.
//
// Errors: ctx's error if ctx ended (the worker cancels the job and stays
// usable); an error wrapping ErrWorkerDied, with the exit status and any panic
// line, if the worker is gone; otherwise the worker's own account of why the
// task failed (the worker stays usable), wrapping ErrBadInput when retrying
// cannot help and ErrNoSpace when the worker's disk is full.
func (c *Client) Run(ctx context.Context, task Task, onProgress func(Progress)) (Result, error) {
	return c.RunWatched(ctx, task, Watch{Progress: onProgress})
}

// Watch receives what a worker reports while it runs a job, on the calling
// goroutine of RunWatched, in order. Either function may be nil.
type Watch struct {
	Progress func(Progress) // every training step
	// Alive is called for every event, progress or heartbeat (see
	// Task.HeartbeatMS): the worker was alive then.
	Alive func()
}

// RunWatched is Run with a Watch: it also reports heartbeats, so that the
// host can tell a stopped or hung worker from a slow job.
func (c *Client) RunWatched(ctx context.Context, task Task, watch Watch) (Result, error) {
	if c.Exited() {
		return Result{}, c.died()
	}
	// A task the codec cannot encode (NaN in a float) must fail here, not
	// look like a broken connection.
	if _, err := (jsonCodec{}).Marshal(&task); err != nil {
		return Result{}, fmt.Errorf("job %s: encode task: %w", task.JobID, err)
	}
	stream, err := c.conn.NewStream(ctx, runStreamDesc, runMethod, grpc.CallContentSubtype(codecName))
	if err != nil {
		return Result{}, c.callError(ctx, err)
	}
	// io.EOF from SendMsg means the stream broke; RecvMsg reports why.
	if err := stream.SendMsg(&task); err != nil && !errors.Is(err, io.EOF) {
		return Result{}, c.callError(ctx, err)
	}
	if err := stream.CloseSend(); err != nil {
		return Result{}, c.callError(ctx, err)
	}
	var result *Result
	for {
		var event Event
		err := stream.RecvMsg(&event)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Result{}, c.callError(ctx, err)
		}
		if watch.Alive != nil {
			watch.Alive()
		}
		if event.Progress != nil && watch.Progress != nil {
			watch.Progress(*event.Progress)
		}
		if event.Result != nil {
			result = event.Result
		}
	}
	if result == nil {
		return Result{}, fmt.Errorf("job %s: worker pid %d ended the job without a result", task.JobID, c.PID())
	}
	return *result, nil
}

// callError turns a failed call into the error Run and Info return.
func (c *Client) callError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// The worker answered: the engine failed or the task was refused.
	if failure, ok := answered(status.Convert(err)); ok {
		return failure
	}
	// The transport broke. Normally because the worker died; wait to see it.
	select {
	case <-c.proc.exited:
		c.Kill() // release go-plugin's side (socket directory, log readers)
		return c.died()
	case <-time.After(deathGrace):
	}
	pid := c.PID()
	c.logger.Warn("worker unreachable; killing it", "pid", pid, "error", err)
	c.Kill()
	return fmt.Errorf("%w (pid %d unreachable: %v)", ErrWorkerDied, pid, status.Convert(err).Message())
}

// died describes a worker that has exited.
func (c *Client) died() error {
	// The panic text may still be in the stderr pipe when the exit is seen.
	select {
	case <-c.proc.stderr.eof:
	case <-time.After(time.Second):
	}
	return fmt.Errorf("%w (pid %d, %s)", ErrWorkerDied, c.PID(), c.proc.exitReason())
}

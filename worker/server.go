package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/fomo-grid/grid/engine"
	"github.com/fomo-grid/grid/internal/study"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ServeEngine makes this process a worker serving e until the host closes the
// connection or dies, then exits the process; it never returns. The same e
// runs every job of the worker's life, one job at a time.
func ServeEngine(e engine.Engine) {
	// The logger must exist before plugin.Serve: Serve swaps os.Stderr for a
	// pipe, while the host parses JSON lines arriving on the real fd 2.
	level := hclog.LevelFromString(os.Getenv(envLogLevel))
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	logger := hclog.New(&hclog.LoggerOptions{
		Name:       "worker",
		Level:      level,
		JSONFormat: true,
		Output:     os.Stderr,
	})
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: handshake,
		Plugins: plugin.PluginSet{
			pluginName: &workerPlugin{service: newServer(e, logger)},
		},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts,
				grpc.MaxRecvMsgSize(maxMessageSize),
				grpc.MaxSendMsgSize(maxMessageSize))...)
		},
		Logger: logger,
	})
	os.Exit(0)
}

type server struct {
	engine engine.Engine
	logger hclog.Logger
	// busy holds a token while a job runs. A job cancelled by the host may
	// still be unwinding in the engine when the next one arrives; the next
	// one waits, so the engine never runs two jobs at once.
	busy chan struct{}
}

func newServer(e engine.Engine, logger hclog.Logger) *server {
	return &server{engine: e, logger: logger, busy: make(chan struct{}, 1)}
}

func (s *server) info(context.Context) (*Info, error) {
	info := &Info{
		ProtocolVersion: ProtocolVersion,
		PID:             os.Getpid(),
		Engine:          fmt.Sprintf("%T", s.engine),
	}
	if named, ok := s.engine.(fmt.Stringer); ok {
		info.Engine = named.String()
	}
	if placed, ok := s.engine.(engine.Placed); ok {
		info.Backend, info.Device = placed.Placement()
	}
	if build, ok := debug.ReadBuildInfo(); ok {
		info.GoVersion = build.GoVersion
		info.Module = build.Main.Path + "@" + build.Main.Version
		for _, setting := range build.Settings {
			switch setting.Key {
			case "vcs.revision":
				info.Revision = setting.Value
			case "vcs.modified":
				info.Modified = setting.Value == "true"
			}
		}
	}
	return info, nil
}

func (s *server) run(task *Task, stream grpc.ServerStream) error {
	ctx := stream.Context()
	select {
	case s.busy <- struct{}{}:
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
	defer func() { <-s.busy }()

	log := s.logger.With("job", task.JobID, "kind", task.Kind, "dataset", task.Dataset)
	log.Debug("job started")
	events := newProgressSender(stream, log)
	stopBeats := events.beatEvery(time.Duration(task.HeartbeatMS) * time.Millisecond)
	meter, measured := s.engine.(engine.UsageMeter)
	if measured {
		meter.ResetUsage()
	}
	result, err := s.runJob(ctx, task, events, log)
	stopBeats()
	events.close() // nothing but the result may follow
	if err == nil && measured {
		u := meter.Usage()
		result.Device, result.PeakMemory = u.Device, u.PeakMemory
	}
	switch {
	case ctx.Err() != nil:
		log.Debug("job cancelled", "error", err)
		return status.FromContextError(ctx.Err()).Err()
	case err != nil:
		log.Debug("job failed", "error", err)
		return err
	}
	log.Debug("job finished")
	return stream.SendMsg(&Event{Result: result})
}

// taskError marks a task the worker refuses before the engine sees it.
func taskError(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

func (s *server) runJob(ctx context.Context, task *Task, events *progressSender, log hclog.Logger) (*Result, error) {
	if task.Kind != study.KindTrain && task.Kind != study.KindEval {
		return nil, taskError("job %s: unknown kind %q (want %s or %s)", task.JobID, task.Kind, study.KindTrain, study.KindEval)
	}
	variant, ok := engine.ParseVariant(task.Variant)
	if !ok {
		return nil, taskError("job %s: unknown variant %q (want full, noshared, noselect or nofilter)", task.JobID, task.Variant)
	}
	if task.Kind == study.KindTrain && (task.Prompt != "" || task.LogitsFile != "") {
		return nil, taskError("job %s: prompt and logits_file apply to eval tasks only", task.JobID)
	}
	if task.CheckpointIn != "" && task.Prompt != "" {
		return nil, taskError("job %s: an eval takes a checkpoint or a prompt, not both", task.JobID)
	}
	if task.Precision != "" && !slices.Contains(study.Precisions, task.Precision) {
		return nil, taskError("job %s: unknown precision %q (want fp32, fp16 or bf16)", task.JobID, task.Precision)
	}
	data := engine.DataSpec{
		Dataset: task.Dataset,
		Root:    task.DataRoot,
		Classes: task.Classes,
		Shots:   task.Shots,
		Seed:    task.Seed,
	}
	if task.Kind == study.KindTrain {
		spec := engine.TrainSpec{
			Model:        task.Model,
			Data:         data,
			NCtx:         task.NCtx,
			WeightStd:    task.WeightStd,
			Epochs:       task.Epochs,
			LR:           task.LR,
			WarmupLR:     task.WarmupLR,
			WarmupEpochs: task.WarmupEpochs,
			Momentum:     task.Momentum,
			WeightDecay:  task.WeightDecay,
			BatchSize:    task.BatchSize,
			Variant:      variant,
			Checkpoint:   task.CheckpointOut,
			Precision:    task.Precision,
		}
		trained, err := s.engine.Train(ctx, spec, events.send)
		if err != nil {
			return nil, engineError(err)
		}
		return &Result{
			Evaluations: []Evaluation{evaluation(task, trained.Test)},
			TokenIDs:    trained.TokenIDs,
			Prompt:      trained.Prompt,
			Checkpoint:  trained.Checkpoint,
		}, nil
	}
	spec := engine.EvalSpec{
		Model:      task.Model,
		Data:       data,
		Checkpoint: task.CheckpointIn,
		Prompt:     task.Prompt,
		Variant:    variant,
		LogitsFile: task.LogitsFile,
		Precision:  task.Precision,
	}
	eval, err := s.engine.Evaluate(ctx, spec)
	if err != nil {
		return nil, engineError(err)
	}
	return &Result{Evaluations: []Evaluation{evaluation(task, eval)}}, nil
}

func evaluation(task *Task, e engine.Evaluation) Evaluation {
	return Evaluation{
		Split:    task.Classes,
		Dataset:  task.Dataset,
		Total:    e.Total,
		Correct:  e.Correct,
		Accuracy: e.Accuracy,
		MacroF1:  e.MacroF1,
	}
}

// progressSender forwards engine progress to the stream. A gRPC stream must
// not be written from two goroutines at once, and nothing may be sent after
// the handler has moved on, so sends are serialised and closed off.
type progressSender struct {
	mu     sync.Mutex
	stream grpc.ServerStream
	log    hclog.Logger
	closed bool
	failed bool
}

func newProgressSender(stream grpc.ServerStream, log hclog.Logger) *progressSender {
	return &progressSender{stream: stream, log: log}
}

func (p *progressSender) send(progress engine.Progress) {
	p.emit(&Event{Progress: &Progress{
		Epoch:     progress.Epoch,
		Epochs:    progress.Epochs,
		Step:      progress.Step,
		Steps:     progress.Steps,
		Loss:      progress.Loss,
		BatchLoss: progress.BatchLoss,
		LR:        progress.LR,
		TokenIDs:  progress.TokenIDs,
		Prompt:    progress.Prompt,
	}})
}

// emit sends one event unless the sender is closed or the stream broke.
func (p *progressSender) emit(e *Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.failed {
		return
	}
	if err := p.stream.SendMsg(e); err != nil {
		// The host went away or cancelled; the engine learns of it from ctx.
		p.failed = true
		if !errors.Is(err, context.Canceled) {
			p.log.Debug("event not delivered", "error", err)
		}
	}
}

// beatEvery sends a heartbeat event every interval until the returned stop
// is called (which waits for the beating to end); interval <= 0 sends none.
// The beats come from their own goroutine, whatever the engine is doing:
// they stop only when the whole process does (SIGSTOP, a machine that
// hangs), which is what the host watches for.
func (p *progressSender) beatEvery(interval time.Duration) (stop func()) {
	if interval <= 0 {
		return func() {}
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				p.emit(&Event{Beat: true})
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

func (p *progressSender) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
}

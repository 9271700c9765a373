// Package worker is the process boundary between the orchestrator and the DPT
// engine. A worker is the same `grid` binary started with the hidden
// subcommand Subcommand; it serves one engine.Engine over go-plugin's gRPC
// transport for the life of the process, so weights are loaded once and reused
// by every job sent to it. The orchestrator side (Start, Client.Run) never
// sees engine types: the protocol below is narrow, versioned and
// self-contained, in the manner of Nomad's task drivers.
//
// There is no protoc step. The service is described by a hand-written
// grpc.ServiceDesc and its messages travel as JSON through a codec chosen per
// call with grpc.CallContentSubtype, so go-plugin's own protobuf services
// (health, controller, broker, stdio) are untouched.
package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"

	"github.com/fomo-grid/grid/internal/study"
)

// ProtocolVersion is the version of the messages and methods below. Bump it on
// any incompatible change: go-plugin's handshake then refuses a worker binary
// built with a different version instead of letting it misread tasks.
//
// Adding an optional field (omitempty, and its zero value meaning what the
// protocol did before) is compatible and keeps the version: JSON decoding
// skips fields it does not know and leaves missing ones zero. Task.Prompt,
// Task.LogitsFile, Task.HeartbeatMS, Task.Precision, Event.Beat and
// Result's Device and PeakMemory were added that way, and the Check method,
// which an older worker answers with Unimplemented.
const ProtocolVersion = 1

// Subcommand is the hidden argument of the `grid` binary that turns the
// process into a worker (it must call ServeEngine).
const Subcommand = "__worker"

// handshake keeps a user from running `grid __worker` by hand (the worker
// prints go-plugin's "This binary is a plugin" and exits 1) and rejects a
// worker speaking another ProtocolVersion.
var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "GRID_WORKER_PLUGIN",
	MagicCookieValue: "grid-dpt-worker-8d3f1c27",
}

const (
	pluginName  = "engine"
	serviceName = "grid.worker.v1.Worker"
	infoMethod  = "/" + serviceName + "/Info"
	checkMethod = "/" + serviceName + "/Check"
	runMethod   = "/" + serviceName + "/Run"
	// codecName is the gRPC content-subtype of every call of this service.
	codecName = "json"
	// maxMessageSize lifts gRPC's 4 MiB receive limit on the worker's server;
	// go-plugin's client already dials with math.MaxInt32 both ways.
	maxMessageSize = math.MaxInt32
	// envLogLevel carries the host logger's level to the worker's logger.
	envLogLevel = "GRID_WORKER_LOG_LEVEL"
	// envBackend carries Options.Backend to the worker (BackendSetting).
	envBackend = "GRID_WORKER_BACKEND"
)

// Task is one job sent to a worker. Kind "train" learns a prompt on the
// training split and writes CheckpointOut; kind "eval" loads CheckpointIn (or,
// without one, builds each class sentence from Prompt) and classifies the test
// split.
type Task struct {
	JobID        string        `json:"job_id"`
	Kind         study.Kind    `json:"kind"` // study.KindTrain or study.KindEval
	Model        string        `json:"model"`
	DataRoot     string        `json:"data_root"`
	Dataset      string        `json:"dataset"`
	Classes      study.Classes `json:"classes"`
	Shots        int           `json:"shots"`
	Seed         int64         `json:"seed"`
	NCtx         int           `json:"n_ctx"`
	WeightStd    float64       `json:"weight_std"`
	Epochs       int           `json:"epochs"`
	LR           float64       `json:"lr"`
	WarmupLR     float64       `json:"warmup_lr"`
	WarmupEpochs int           `json:"warmup_epochs"`
	Momentum     float64       `json:"momentum"`
	WeightDecay  float64       `json:"weight_decay"`
	BatchSize    int           `json:"batch_size"`
	// Variant is the method as run; empty means the full method.
	Variant       study.Variant `json:"variant"`
	CheckpointIn  string        `json:"checkpoint_in,omitempty"`  // eval: the checkpoint to load
	CheckpointOut string        `json:"checkpoint_out,omitempty"` // train: where to write it
	// Prompt is an eval's hand-written prompt when CheckpointIn is empty:
	// a template with {} where the class name goes, or else the context
	// words before it (sentence: Prompt + " " + class name + "."). Empty
	// means the seed's "a photo of a".
	Prompt string `json:"prompt,omitempty"`
	// LogitsFile, when set on an eval, is the CSV the worker writes with
	// every test image's path, label and class logits.
	LogitsFile string `json:"logits_file,omitempty"`
	// HeartbeatMS, when positive, asks the worker to send an Event with
	// Beat set at this interval while the job runs, whatever the engine is
	// doing: a host that hears nothing for several intervals knows the
	// worker is stopped or hung (liveness.go).
	HeartbeatMS int `json:"heartbeat_ms,omitempty"`
	// Precision is the job's arithmetic: fp32 (or empty), fp16 or bf16.
	Precision study.Precision `json:"precision,omitempty"`
}

// Event is one message of a Run stream: progress while training and
// heartbeats, then exactly one Result as the last message.
type Event struct {
	Progress *Progress `json:"progress,omitempty"`
	Result   *Result   `json:"result,omitempty"`
	Beat     bool      `json:"beat,omitempty"` // a heartbeat: the worker is alive
}

// Progress is reported after every training step.
type Progress struct {
	Epoch     int     `json:"epoch"` // 0-based
	Epochs    int     `json:"epochs"`
	Step      int     `json:"step"` // 0-based global step
	Steps     int     `json:"steps"`
	Loss      float64 `json:"loss"`       // running mean of this epoch's batch losses
	BatchLoss float64 `json:"batch_loss"` // this step's loss
	LR        float64 `json:"lr"`
	TokenIDs  []int   `json:"token_ids"`
	Prompt    string  `json:"prompt"`
}

// Result is what a finished job returns.
type Result struct {
	Evaluations []Evaluation `json:"evaluations"`
	TokenIDs    []int        `json:"token_ids,omitempty"`  // train: the learned prompt tokens
	Prompt      string       `json:"prompt,omitempty"`     // train: their decoded text
	Checkpoint  string       `json:"checkpoint,omitempty"` // train: the checkpoint written
	// Device and PeakMemory (bytes) say what the job used, when the engine
	// measures it (the CUDA backend does, the CPU backend does not).
	Device     string `json:"device,omitempty"`
	PeakMemory int64  `json:"peak_memory,omitempty"`
}

// Evaluation is the classification result on the test split of one class
// split of one dataset.
type Evaluation struct {
	Split    study.Classes `json:"split"` // the Task's Classes
	Dataset  string        `json:"dataset"`
	Total    int           `json:"total"`
	Correct  int           `json:"correct"`
	Accuracy float64       `json:"accuracy"` // percent
	MacroF1  float64       `json:"macro_f1"` // percent
}

// Info describes a running worker.
type Info struct {
	ProtocolVersion int    `json:"protocol_version"`
	PID             int    `json:"pid"`
	Engine          string `json:"engine"`            // the engine's type (or its String())
	Backend         string `json:"backend,omitempty"` // what the engine computes on (engine.Placed)
	Device          string `json:"device,omitempty"`
	GoVersion       string `json:"go_version"` // toolchain the worker was built with
	Module          string `json:"module"`     // main module path and version
	Revision        string `json:"revision,omitempty"`
	Modified        bool   `json:"modified,omitempty"` // built from a dirty tree
}

type infoRequest struct{}

// jsonCodec encodes this service's messages. It is registered globally but
// only chosen by calls that ask for content-subtype "json".
type jsonCodec struct{}

func (jsonCodec) Marshal(v any) ([]byte, error)      { return json.Marshal(v) }
func (jsonCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
func (jsonCodec) Name() string                       { return codecName }

func init() { encoding.RegisterCodec(jsonCodec{}) }

// workerService is what the server side implements; grpc checks the
// registered value against it.
type workerService interface {
	info(ctx context.Context) (*Info, error)
	check(ctx context.Context, req *CheckRequest) (*CheckReply, error)
	run(task *Task, stream grpc.ServerStream) error
}

var serviceDesc = grpc.ServiceDesc{
	ServiceName: serviceName,
	HandlerType: (*workerService)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Info",
		Handler: func(srv any, ctx context.Context, decode func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			var req infoRequest
			if err := decode(&req); err != nil {
				return nil, err
			}
			return srv.(workerService).info(ctx)
		},
	}, {
		MethodName: "Check",
		Handler: func(srv any, ctx context.Context, decode func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			var req CheckRequest
			if err := decode(&req); err != nil {
				return nil, err
			}
			return srv.(workerService).check(ctx, &req)
		},
	}},
	Streams: []grpc.StreamDesc{{
		StreamName:    "Run",
		ServerStreams: true,
		Handler: func(srv any, stream grpc.ServerStream) error {
			task := new(Task)
			if err := stream.RecvMsg(task); err != nil {
				return err
			}
			return srv.(workerService).run(task, stream)
		},
	}},
	Metadata: "worker/protocol.go",
}

var runStreamDesc = &serviceDesc.Streams[0]

// workerPlugin plugs the service into go-plugin. The server side holds the
// engine; the client side only needs the connection.
type workerPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	service workerService // nil on the client side
}

func (p *workerPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.service == nil {
		return fmt.Errorf("worker plugin: no engine to serve")
	}
	s.RegisterService(&serviceDesc, p.service)
	return nil
}

func (p *workerPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return cc, nil
}

// Losses diverge and metrics of empty splits are undefined, but JSON has no
// NaN or infinity: encoding/json refuses them, which would drop the very
// progress event that shows a run blowing up. The float fields of Progress and
// Evaluation therefore travel as jsonFloat, which spells those values as
// strings.

type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return json.Marshal(v)
}

func (f *jsonFloat) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case `"NaN"`:
		*f = jsonFloat(math.NaN())
		return nil
	case `"+Inf"`:
		*f = jsonFloat(math.Inf(1))
		return nil
	case `"-Inf"`:
		*f = jsonFloat(math.Inf(-1))
		return nil
	}
	var v float64
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*f = jsonFloat(v)
	return nil
}

// The wire forms below shadow the float fields of the embedded plain copy
// (a shallower JSON field wins over a promoted one of the same name).

func (p Progress) MarshalJSON() ([]byte, error) {
	type plain Progress
	return json.Marshal(struct {
		plain
		Loss      jsonFloat `json:"loss"`
		BatchLoss jsonFloat `json:"batch_loss"`
		LR        jsonFloat `json:"lr"`
	}{plain(p), jsonFloat(p.Loss), jsonFloat(p.BatchLoss), jsonFloat(p.LR)})
}

func (p *Progress) UnmarshalJSON(data []byte) error {
	type plain Progress
	wire := struct {
		*plain
		Loss      jsonFloat `json:"loss"`
		BatchLoss jsonFloat `json:"batch_loss"`
		LR        jsonFloat `json:"lr"`
	}{plain: (*plain)(p)}
	if err := json.Unmarshal(data, &wire); err != nil {
		return err
	}
	p.Loss, p.BatchLoss, p.LR = float64(wire.Loss), float64(wire.BatchLoss), float64(wire.LR)
	return nil
}

func (e Evaluation) MarshalJSON() ([]byte, error) {
	type plain Evaluation
	return json.Marshal(struct {
		plain
		Accuracy jsonFloat `json:"accuracy"`
		MacroF1  jsonFloat `json:"macro_f1"`
	}{plain(e), jsonFloat(e.Accuracy), jsonFloat(e.MacroF1)})
}

func (e *Evaluation) UnmarshalJSON(data []byte) error {
	type plain Evaluation
	wire := struct {
		*plain
		Accuracy jsonFloat `json:"accuracy"`
		MacroF1  jsonFloat `json:"macro_f1"`
	}{plain: (*plain)(e)}
	if err := json.Unmarshal(data, &wire); err != nil {
		return err
	}
	e.Accuracy, e.MacroF1 = float64(wire.Accuracy), float64(wire.MacroF1)
	return nil
}

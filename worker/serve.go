package worker

import "github.com/fomo-grid/grid/engine/trainer"

// Serve turns this process into a worker running the DPT engine; it is what
// the hidden `grid __worker` subcommand calls. It never returns.
func Serve() { ServeEngine(trainer.New()) }

package clip

import (
	"fmt"

	"github.com/fomo-grid/grid/engine/backend"
)

// Tower names an Observer receives.
const (
	TextTower   = "text"
	VisionTower = "vision"
)

// Observer receives a tower's residual stream as a forward pass goes
// through it, for checking a port layer by layer against a reference.
// tower is TextTower or VisionTower; depth is how many blocks the stream
// has been through: 0 for the stream entering block 0 (for the vision tower,
// ln_pre's output), then k after block k-1, up to the tower's layer count.
// residual is batch × length × width, row-major, one sequence after another.
// For the text tower length is the number of positions computed, max(EOT)+1,
// not ContextLength (see textLength). residual is a copy downloaded from
// the backend for this call.
type Observer func(tower string, depth int, residual []float32, batch, length, width int)

// streamObserver binds m.Observe to one pass of a tower on b, or is nil
// when no observer is set, so that an unobserved pass costs one nil check
// per block. Each observed stream is downloaded into a new slice.
func (m *Model) streamObserver(tower string, b backend.Backend, batch, length, width int) streamObserver {
	if m.Observe == nil {
		return nil
	}
	observe := m.Observe
	return func(depth int, x backend.Buffer) {
		residual := make([]float32, batch*length*width)
		if err := b.Download(residual, x); err != nil {
			panic(fmt.Sprintf("clip: observing the %s tower at depth %d: %v", tower, depth, err))
		}
		observe(tower, depth, residual, batch, length, width)
	}
}

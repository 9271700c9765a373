package cpu_test

import (
	"testing"

	"github.com/fomo-grid/grid/engine/backend"
	"github.com/fomo-grid/grid/engine/backend/backendtest"
	"github.com/fomo-grid/grid/engine/cpu"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func() backend.Backend { return cpu.New() })
}

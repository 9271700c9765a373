package backendtest

import "github.com/fomo-grid/grid/engine/backend"

// Counter is a backend that counts the attention passes it runs, by kind,
// for tests of a backend's users: which tower a CLIP pass ran shows in it,
// the text tower's attention being causal and the ViT's not. Every other
// operation goes straight to Backend.
type Counter struct {
	backend.Backend
	CausalForward, CausalBackward int
	FullForward, FullBackward     int
}

func (c *Counter) AttentionForward(out, saved, qkv backend.Buffer, B, T, C, NH int, causal bool) {
	if causal {
		c.CausalForward++
	} else {
		c.FullForward++
	}
	c.Backend.AttentionForward(out, saved, qkv, B, T, C, NH, causal)
}

func (c *Counter) AttentionBackward(dqkv, dout, qkv, saved backend.Buffer, B, T, C, NH int, causal bool) {
	if causal {
		c.CausalBackward++
	} else {
		c.FullBackward++
	}
	c.Backend.AttentionBackward(dqkv, dout, qkv, saved, B, T, C, NH, causal)
}

// Reset sets every count to zero.
func (c *Counter) Reset() { *c = Counter{Backend: c.Backend} }

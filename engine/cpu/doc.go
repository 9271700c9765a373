// Package cpu holds the fp32 numerics of the pure-Go engine: each layer is a
// forward/backward pair of plain functions over flat row-major []float32, in
// the style of llm.c.
//
// Conventions shared by every function:
//   - Shapes are passed explicitly; slices may be longer than needed but never
//     shorter (a short slice panics with an index error).
//   - Forward functions overwrite their outputs.
//   - Backward functions ADD into their gradient outputs (dx += ...), so a
//     tensor feeding two consumers (a residual stream, a shared prompt) can
//     collect both contributions. Callers zero gradient buffers first. A nil
//     gradient output means "not wanted" wherever the documentation says so.
package cpu

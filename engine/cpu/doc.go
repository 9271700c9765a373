// Package cpu is the pure-Go CPU backend: Backend implements
// engine/backend.Backend with Go slices as buffers, and the numerics are
// forward/backward pairs of plain functions over flat row-major []float32,
// in the style of llm.c, that the Backend's methods call after checking
// their buffers.
//
// Conventions shared by every function (the same as the interface's):
//   - Shapes are passed explicitly; slices may be longer than needed but never
//     shorter (a short slice panics with an index error).
//   - Forward functions overwrite their outputs.
//   - Backward functions ADD into their gradient outputs (dx += ...), so a
//     tensor feeding two consumers (a residual stream, a shared prompt) can
//     collect both contributions. Callers zero gradient buffers first. A nil
//     gradient output means "not wanted" wherever the documentation says so.
//
// The package is checked by engine/backend/backendtest, the conformance
// suite every backend runs, and by its own tests of what only the CPU
// promises (bit-identical rows whatever the row count).
package cpu

// Package golden checks the Go DPT engine against the PyTorch reference in
// engine/reference: its tests load the committed fixtures
// (engine/reference/fixtures) and the small random CLIP saved there, recompute
// every tensor with the Go packages (clip, dpt, tokenizer, data, trainer) and
// compare. The issue they guard is that nothing may differ from the
// reference's mathematics except float rounding, so:
//
//   - Algorithm 1 selections (ids, errors and the "!= a vs b" trace) and
//     tokenizer pairs must agree exactly;
//   - the test-pipeline preprocessing of decoded pixels must agree exactly;
//   - the residual stream entering each tower and after every block (seen
//     through clip.Model.Observe), features, logits, loss, gradients and SGD
//     updates must agree within
//     float32 rounding tolerances, stated next to each comparison and logged
//     (go test -v) as max abs and max relative error per tensor.
//
// The package has no code outside its tests. Fixtures are regenerated with
// engine/reference/dpt_reference.py, never by these tests.
package golden

package dpt

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/fomo-grid/grid/engine"
	"github.com/fomo-grid/grid/engine/tokenizer"
	"github.com/fomo-grid/grid/internal/testvocab"
)

// toyCodec decodes by concatenation and encodes by greedy longest match
// over its tokens, so a pair like [a, b] fails to round-trip when "ab" is
// itself a token. Its last two ids are SOT and EOT.
type toyCodec struct {
	tokens []string
	calls  int // Encode calls
}

func newToy(tokens ...string) *toyCodec {
	return &toyCodec{tokens: append(tokens, "<SOT>", "<EOT>")}
}

func (c *toyCodec) SOT() int { return len(c.tokens) - 2 }
func (c *toyCodec) EOT() int { return len(c.tokens) - 1 }

func (c *toyCodec) Decode(ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(c.tokens[id])
	}
	return b.String()
}

func (c *toyCodec) Encode(s string) []int {
	c.calls++
	ids := []int{}
	for s != "" {
		best := -1
		for id, tok := range c.tokens[:len(c.tokens)-2] {
			if strings.HasPrefix(s, tok) && (best < 0 || len(tok) > len(c.tokens[best])) {
				best = id
			}
		}
		if best < 0 {
			return append(ids, -1)
		}
		ids = append(ids, best)
		s = s[len(c.tokens[best]):]
	}
	return ids
}

// matrix builds an nCtx×vocab score matrix: every entry is fill except the
// given (row, column) values.
func matrix(nCtx, vocab int, fill float32, set map[[2]int]float32) []float32 {
	m := make([]float32, nCtx*vocab)
	for i := range m {
		m[i] = fill
	}
	for rc, v := range set {
		m[rc[0]*vocab+rc[1]] = v
	}
	return m
}

func mustSelect(t *testing.T, scores []float32, nCtx, vocab int, tok Codec, v engine.Variant) ([]int, []string) {
	t.Helper()
	var traces []string
	best, err := Select(scores, nCtx, vocab, tok, v, func(s string) { traces = append(traces, s) })
	if err != nil {
		t.Fatal(err)
	}
	return best, traces
}

func TestSelectFiltersSpecialTokens(t *testing.T) {
	tok := newToy("x", "a", "c") // ids 0..2, SOT 3, EOT 4
	const V = 5
	scores := matrix(2, V, 0, map[[2]int]float32{
		{0, 3}: 3, {0, 4}: 2, {0, 1}: 1, // row 0: SOT, EOT, then "a"
		{1, 4}: 3, {1, 2}: 2, // row 1: EOT, then "c"
	})
	if best, _ := mustSelect(t, scores, 2, V, tok, engine.Variant{NoFilter: true}); !slices.Equal(best, []int{3, 4}) {
		t.Errorf("NoFilter = %v, want the plain argmax [3 4]", best)
	}
	if best, _ := mustSelect(t, scores, 2, V, tok, engine.Variant{NoSelect: true}); !slices.Equal(best, []int{1, 2}) {
		t.Errorf("NoSelect = %v, want [1 2]", best)
	}
	if tok.calls != 0 {
		t.Errorf("NoFilter and NoSelect must not encode, got %d calls", tok.calls)
	}
	best, traces := mustSelect(t, scores, 2, V, tok, engine.Variant{})
	if !slices.Equal(best, []int{1, 2}) || len(traces) != 0 {
		t.Errorf("full = %v (traces %q), want [1 2] with no trace", best, traces)
	}
	if tok.calls != 1 {
		t.Errorf("the round trip should be checked once, after both rows are clean; got %d", tok.calls)
	}
}

// The rank-index quirk: the reference compares scores[i][rank] and
// scores[i][rank+1], the scores of vocabulary ids rank and rank+1, not of the
// tokens at those ranks, and tries the largest difference first.
func TestSelectRankIndexQuirk(t *testing.T) {
	tok := newToy("x", "y", "a", "b", "ab", "c") // SOT 6, EOT 7
	const V = 8
	scores := matrix(2, V, -1, map[[2]int]float32{
		// row 0 orders a, c, ...; row 1 orders b, c, ...
		{0, 2}: 1.0, {0, 5}: 0.9, {1, 3}: 1.0, {1, 5}: 0.5,
		// columns 0 and 1 (ids x, y) drive the quirk's differences:
		// d0 = 0 - (-0.8) = 0.8, d1 = 0 - (-0.1) = 0.1.
		{0, 0}: 0, {0, 1}: -0.8, {1, 0}: 0, {1, 1}: -0.1,
	})
	best, traces := mustSelect(t, scores, 2, V, tok, engine.Variant{})
	// [a b] decodes to "ab", which encodes as [ab]. The quirk's d puts row 0
	// first: [c b] = "cb" round-trips. Differences of the ranked tokens
	// (0.1 for row 0, 0.5 for row 1) would bump row 1 and give [a c]; so
	// would trying the smallest quirk difference first.
	if !slices.Equal(best, []int{5, 3}) {
		t.Errorf("best = %v, want [5 3]", best)
	}
	if !slices.Equal(traces, []string{"!= ab vs ab"}) {
		t.Errorf("traces = %q", traces)
	}
	if best, _ := mustSelect(t, scores, 2, V, tok, engine.Variant{NoSelect: true}); !slices.Equal(best, []int{2, 3}) {
		t.Errorf("NoSelect = %v, want the unchecked [2 3]", best)
	}
}

func TestSelectFallbackBump(t *testing.T) {
	tok := newToy("x", "y", "a", "b", "ab", "c", "ac", "cb", "cc") // SOT 9, EOT 10
	const V = 11
	scores := matrix(2, V, -1, map[[2]int]float32{
		{0, 2}: 1.0, {0, 5}: 0.9, {0, 0}: 0.8, // row 0: a, c, x, y, ...
		{1, 3}: 1.0, {1, 5}: 0.9, {1, 1}: 0.5, {1, 0}: 0, // row 1: b, c, y, x, ...
	})
	best, traces := mustSelect(t, scores, 2, V, tok, engine.Variant{})
	// Pass 1: [a b] → "ab" fails; d = (0.8+1, 0-0.5) tries row 0 ([c b] =
	// "cb" fails) then row 1 ([a c] = "ac" fails); neither works, so row 0,
	// first in the order, is bumped. Pass 2: [c b] fails; d = (-1-1, -0.5)
	// tries row 1 ([c c] fails) then row 0: [x b] = "xb" encodes as [x b].
	if !slices.Equal(best, []int{0, 3}) {
		t.Errorf("best = %v, want [0 3]", best)
	}
	if !slices.Equal(traces, []string{"!= ab vs ab", "!= cb vs cb"}) {
		t.Errorf("traces = %q", traces)
	}
}

func TestSelectSpecialTokenAfterFix(t *testing.T) {
	tok := newToy("a", "b", "ab") // SOT 3, EOT 4
	const V = 5
	scores := matrix(2, V, -1, map[[2]int]float32{
		{0, 0}: 1, {0, 3}: 0.5, {0, 1}: 0.2, // row 0: a, SOT, b
		{1, 1}: 1, {1, 4}: 0.5, {1, 0}: 0.2, // row 1: b, EOT, a
	})
	// Pass 1: [a b] = "ab" fails; d = (1-0.2, 0.2-1) tries row 0 ([SOT b]
	// does not round-trip under this codec) then row 1 ([a EOT] neither),
	// so the fallback bumps row 0 onto SOT. Pass 2: the filter moves row 0
	// past SOT. Pass 3: [b b] = "bb" round-trips.
	best, traces := mustSelect(t, scores, 2, V, tok, engine.Variant{})
	if !slices.Equal(best, []int{1, 1}) || len(traces) != 1 {
		t.Errorf("best = %v (traces %q), want [1 1] after one failure", best, traces)
	}
}

type neverCodec struct{}

func (neverCodec) Encode(string) []int     { return []int{-1} }
func (neverCodec) Decode(ids []int) string { return "?" }
func (neverCodec) SOT() int                { return 100 }
func (neverCodec) EOT() int                { return 101 }

func TestSelectStopsWhenVocabularyRunsOut(t *testing.T) {
	scores := []float32{0.4, 0.3, 0.2, 0.1, 0, 0.5, 0.1, 0.2}
	_, err := Select(scores, 2, 4, neverCodec{}, engine.Variant{}, nil)
	if err == nil || !strings.Contains(err.Error(), "ran out of vocabulary") {
		t.Errorf("want a ran-out-of-vocabulary error, got %v", err)
	}
	if _, err := Select(scores, 2, 3, neverCodec{}, engine.Variant{}, nil); err == nil {
		t.Error("a matrix of the wrong size should be an error")
	}
}

func TestArgsortDescendingIsStable(t *testing.T) {
	nan := float32(math.NaN())
	got := argsortDescending([]float32{1, 3, nan, 3, -1, 1, nan, 0})
	if want := []int{2, 6, 1, 3, 0, 5, 7, 4}; !slices.Equal(got, want) {
		t.Errorf("argsort = %v, want %v", got, want)
	}
	// The lazy top-k order agrees with the full sort, ties included.
	rng := rand.New(rand.NewPCG(1, 2))
	row := make([]float32, 3000)
	for i := range row {
		row[i] = float32(rng.IntN(40)) / 8 // many ties
	}
	row[17] = nan
	full := argsortDescending(row)
	lazy := rowOrder{scores: row}
	for _, r := range []int{0, 5, 15, 16, 40, 100, 700, 2999, 1, 3} {
		if lazy.at(r) != full[r] {
			t.Fatalf("rank %d: lazy %d, full %d", r, lazy.at(r), full[r])
		}
	}
}

func realTokenizer(t *testing.T) *tokenizer.Tokenizer {
	t.Helper()
	tok, err := tokenizer.Load(testvocab.Path(t))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestSelectWithCLIPTokenizer(t *testing.T) {
	tok := realTokenizer(t)
	V := tok.VocabSize()
	const (
		a, aEnd, bEnd, dogEnd = 64, 320, 321, 1929 // "a", "a</w>", "b</w>", "dog</w>"
	)
	scores := matrix(2, V, 0, map[[2]int]float32{
		{0, a}: 1.0, {0, aEnd}: 0.9,
		{1, bEnd}: 1.0, {1, dogEnd}: 0.9,
	})
	best, traces := mustSelect(t, scores, 2, V, tok, engine.Variant{})
	// [a, b</w>] decodes to "ab " which encodes as [ab</w>]. The quirk's
	// differences (ids 0 and 1 score 0 in both rows) tie, so row 0 goes
	// first: [a</w>, b</w>] = "a b " round-trips.
	if !slices.Equal(best, []int{aEnd, bEnd}) {
		t.Errorf("best = %v, want [%d %d]", best, aEnd, bEnd)
	}
	if !slices.Equal(traces, []string{"!= ab  vs ab "}) {
		t.Errorf("traces = %q", traces)
	}

	// SOT and EOT at the top of a row are skipped.
	scores = matrix(1, V, 0, map[[2]int]float32{{0, tok.SOT()}: 2, {0, tok.EOT()}: 1.5, {0, dogEnd}: 1})
	if best, _ := mustSelect(t, scores, 1, V, tok, engine.Variant{}); !slices.Equal(best, []int{dogEnd}) {
		t.Errorf("best = %v, want [dog</w>]", best)
	}
	// For one token, a word-final token is needed: "photo" alone re-encodes
	// as photo</w>, so the next-ranked token is taken.
	scores = matrix(1, V, 0, map[[2]int]float32{{0, 1153}: 2, {0, 1125}: 1})
	if best, traces := mustSelect(t, scores, 1, V, tok, engine.Variant{}); !slices.Equal(best, []int{1125}) || len(traces) != 1 {
		t.Errorf("best = %v traces %q, want [1125] after one failure", best, traces)
	}
}

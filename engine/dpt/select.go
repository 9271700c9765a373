// Package dpt holds the model-free parts of Discrete Prompt Tuning as the
// reference code (alvitawa/fomo on Dassl) runs them: Algorithm 1, which turns
// the score matrix into vocabulary tokens; the per-epoch learning rate; and
// the SGD step.
package dpt

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/fomo-grid/grid/engine"
)

// ErrVocabularyExhausted is returned (wrapped) when a row's rank runs past
// the vocabulary: the reference raises an IndexError there. It happens with
// tiny vocabularies, where a bad token in one row can send the fallback bump
// of step 8 walking through every token of another row.
var ErrVocabularyExhausted = errors.New("ran out of vocabulary: no acceptable token")

// Codec is the part of a tokenizer Algorithm 1 needs.
type Codec interface {
	Encode(text string) []int
	Decode(ids []int) string
	SOT() int
	EOT() int
}

// Select is Algorithm 1 (GetToggle.forward): it picks one vocabulary id per
// row of scores, a row-major nCtx×vocab matrix, exactly as the reference does:
//
//  1. order each row by descending score; ranks start at 0;
//  2. best[i] = order[i][ranks[i]]; with v.NoFilter, stop here (argmax);
//  3. at the first i whose best[i] is SOT or EOT, ranks[i]++ and start over;
//  4. with v.NoSelect, stop;
//  5. s = Decode(best); if Encode(s) equals best, stop;
//  6. otherwise report "!= s vs Decode(Encode(s))" to trace (may be nil) and
//     compute d[i] = scores[i][ranks[i]] - scores[i][ranks[i]+1]. As in the
//     reference, the column is the rank itself, not order[i][rank] (torch's
//     gather is given ranks, not token ids): d compares the scores of
//     vocabulary ids ranks[i] and ranks[i]+1. Positions are tried in
//     descending order of d (largest difference first, whatever the
//     reference's comment says);
//  7. for each position i in that order, ranks[i]++; if the new best now
//     round-trips, keep it and go back to step 2 (which re-checks SOT/EOT);
//     otherwise ranks[i]-- and try the next position;
//  8. if no single bump round-trips, ranks[first position]++ and go to 2.
//
// Both sorts break ties by the lower index first, i.e. they are stable
// descending sorts. torch.argsort (stable=False) does not promise an order
// for ties; lower index first is what a stable sort, such as the radix sort
// torch uses for long CUDA rows, gives in practice. NaN scores sort above
// every number, as in torch; -0 and +0 are equal.
//
// Every pass through step 2 adds one to some rank, so the loop ends; but if a
// rank reaches the vocabulary size (or step 6 would read column vocab), the
// reference fails with an index error, and Select returns an error instead.
// The differences of step 6 are computed in float32; the reference computes
// them in the scores' fp16, which can only turn near-equal differences into
// ties.
func Select(scores []float32, nCtx, vocab int, tok Codec, v engine.Variant, trace func(string)) ([]int, error) {
	if nCtx <= 0 || vocab <= 1 {
		return nil, fmt.Errorf("dpt: select: bad shape %d×%d", nCtx, vocab)
	}
	if len(scores) != nCtx*vocab {
		return nil, fmt.Errorf("dpt: select: %d scores for a %d×%d matrix", len(scores), nCtx, vocab)
	}
	rows := make([]rowOrder, nCtx)
	for i := range rows {
		rows[i].scores = scores[i*vocab : (i+1)*vocab]
	}
	ranks := make([]int, nCtx)
	best := make([]int, nCtx)
	pick := func() error {
		for i := range best {
			if ranks[i] >= vocab {
				return fmt.Errorf("dpt: select: row %d %w (rank %d of %d)", i, ErrVocabularyExhausted, ranks[i], vocab)
			}
			best[i] = rows[i].at(ranks[i])
		}
		return nil
	}
	roundTrips := func() bool { return slices.Equal(tok.Encode(tok.Decode(best)), best) }
	sot, eot := tok.SOT(), tok.EOT()

	for {
		if err := pick(); err != nil {
			return nil, err
		}
		if v.NoFilter {
			return best, nil
		}
		if i := slices.IndexFunc(best, func(id int) bool { return id == sot || id == eot }); i >= 0 {
			ranks[i]++
			continue
		}
		if v.NoSelect {
			return best, nil
		}
		decoded := tok.Decode(best)
		reencoded := tok.Encode(decoded)
		if slices.Equal(reencoded, best) {
			return best, nil
		}
		if trace != nil {
			trace(fmt.Sprintf("!= %s vs %s", decoded, tok.Decode(reencoded)))
		}
		diff := make([]float32, nCtx)
		for i, r := range ranks {
			if r+1 >= vocab {
				return nil, fmt.Errorf("dpt: select: row %d %w (rank %d of %d)", i, ErrVocabularyExhausted, r, vocab)
			}
			row := rows[i].scores
			diff[i] = row[r] - row[r+1] // the reference's gather quirk: columns r and r+1
		}
		positions := argsortDescending(diff)
		fixed := false
		for _, i := range positions {
			ranks[i]++
			if err := pick(); err != nil {
				return nil, err
			}
			if roundTrips() {
				fixed = true
				break
			}
			ranks[i]--
		}
		if !fixed {
			ranks[positions[0]]++
		}
	}
}

// descending orders scores high to low, NaN first, ties by lower index.
func descending(scores []float32, a, b int) int {
	x, y := scores[a], scores[b]
	xNaN, yNaN := x != x, y != y
	switch {
	case xNaN && !yNaN:
		return -1
	case yNaN && !xNaN:
		return 1
	case x > y:
		return -1
	case x < y:
		return 1
	}
	return cmp.Compare(a, b)
}

// argsortDescending is torch.argsort(x, descending=True) with ties broken
// by lower index.
func argsortDescending(x []float32) []int {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return descending(x, a, b) })
	return idx
}

// rowOrder is one row of argsort(scores, descending) computed lazily: only
// the top of a 49408-wide row is ever read, so it keeps the first k entries
// of the order and recomputes a longer prefix (k doubling) when a rank
// reaches past it.
type rowOrder struct {
	scores []float32
	top    []int
}

func (r *rowOrder) at(rank int) int {
	if rank >= len(r.top) {
		k := max(16, 2*len(r.top), rank+1)
		r.top = topK(r.scores, min(k, len(r.scores)))
	}
	return r.top[rank]
}

// topK returns the first k indices of the stable descending order of
// scores, using a bounded min-heap (the heap's root is the worst kept entry).
func topK(scores []float32, k int) []int {
	if k >= len(scores) {
		return argsortDescending(scores)
	}
	worse := func(a, b int) bool { return descending(scores, a, b) > 0 } // a comes after b
	heap := make([]int, 0, k)
	down := func(i int) {
		for {
			l, m := 2*i+1, i
			if l < len(heap) && worse(heap[l], heap[m]) {
				m = l
			}
			if l+1 < len(heap) && worse(heap[l+1], heap[m]) {
				m = l + 1
			}
			if m == i {
				return
			}
			heap[i], heap[m] = heap[m], heap[i]
			i = m
		}
	}
	for idx := range scores {
		if len(heap) < k {
			heap = append(heap, idx)
			for i := len(heap) - 1; i > 0; {
				p := (i - 1) / 2
				if !worse(heap[i], heap[p]) {
					break
				}
				heap[i], heap[p] = heap[p], heap[i]
				i = p
			}
			continue
		}
		if worse(heap[0], idx) {
			heap[0] = idx
			down(0)
		}
	}
	slices.SortFunc(heap, func(a, b int) int { return descending(scores, a, b) })
	return heap
}

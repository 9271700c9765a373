package tokenizer

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"sort"

	"github.com/fomo-grid/grid/internal/atomicfile"
)

// Merge is one BPE merge in byte-symbol form: the line "Left Right" of a
// merges file. Right carries "</w>" when the merge ends a word.
type Merge struct {
	Left, Right string
}

// TrainBPE learns up to numMerges merges from corpus, for a small
// vocabulary (the built-in demo's) that Load and Encode then use like
// OpenAI's. Each text is cleaned and split into words exactly as Encode does
// (special tokens are skipped), every word becomes its byte symbols with
// "</w>" on the last one, and each step merges, everywhere, the adjacent pair
// that occurs most often (counting every word as often as it appears in the
// corpus; ties go to the lexicographically smallest pair). A pair whose
// concatenation is already a token is never chosen, so every merge adds a new
// vocabulary entry and applying the merges in rank order, as Encode does,
// splits each corpus word as training left it. Training stops early when no
// pair is left, that is when every word is a single token.
func TrainBPE(corpus []string, numMerges int) []Merge {
	freq := map[string]int{}
	for _, text := range corpus {
		for _, word := range splitWords(cleanText(text)) {
			if word == StartOfText || word == EndOfText {
				continue
			}
			freq[symbolsOf(word)]++
		}
	}
	distinct := make([]string, 0, len(freq))
	for w := range freq {
		distinct = append(distinct, w)
	}
	sort.Strings(distinct)
	type wordCount struct {
		symbols []string
		count   int
	}
	words := make([]wordCount, len(distinct))
	for i, w := range distinct {
		var symbols []string
		for _, r := range w {
			symbols = append(symbols, string(r))
		}
		symbols[len(symbols)-1] += endOfWord
		words[i] = wordCount{symbols, freq[w]}
	}

	known := map[string]bool{StartOfText: true, EndOfText: true}
	for _, b := range byteOrder {
		known[string(byteSymbol[b])] = true
		known[string(byteSymbol[b])+endOfWord] = true
	}
	var merges []Merge
	for len(merges) < numMerges {
		counts := map[Merge]int{}
		for _, w := range words {
			for i := 0; i+1 < len(w.symbols); i++ {
				counts[Merge{w.symbols[i], w.symbols[i+1]}] += w.count
			}
		}
		best, bestCount := Merge{}, 0
		for m, c := range counts {
			if known[m.Left+m.Right] {
				continue
			}
			if c > bestCount || c == bestCount && (m.Left < best.Left || m.Left == best.Left && m.Right < best.Right) {
				best, bestCount = m, c
			}
		}
		if bestCount == 0 {
			break
		}
		merges = append(merges, best)
		known[best.Left+best.Right] = true
		for i := range words {
			s := words[i].symbols
			out := s[:0]
			for j := 0; j < len(s); j++ {
				if j+1 < len(s) && s[j] == best.Left && s[j+1] == best.Right {
					out = append(out, best.Left+best.Right)
					j++
					continue
				}
				out = append(out, s[j])
			}
			words[i].symbols = out
		}
	}
	return merges
}

// WriteBPE writes merges as a gzip-compressed file in OpenAI's
// bpe_simple_vocab_16e6.txt.gz format (a header line, then "left right"
// lines), atomically (atomicfile), mode 0644.
// Load of the file, and simple_tokenizer.py too, give the vocabulary the
// merges define: 512 byte tokens, one token per merge, SOT and EOT.
func WriteBPE(path string, merges []Merge) (err error) {
	for i, m := range merges {
		if !isSymbolString(m.Left) || !isSymbolString(m.Right) {
			return fmt.Errorf("tokenizer: merge %d (%q %q) is not made of BPE byte symbols", i, m.Left, m.Right)
		}
	}
	err = atomicfile.Write(path, 0o644, func(w io.Writer) error {
		zw := gzip.NewWriter(w)
		bw := bufio.NewWriter(zw)
		// No newline after the last merge: simple_tokenizer splits the
		// file on "\n" and would read a final empty line as an empty merge.
		fmt.Fprintf(bw, "#version: 0.2 (%d merges)", len(merges))
		for _, m := range merges {
			fmt.Fprintf(bw, "\n%s %s", m.Left, m.Right)
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		return zw.Close()
	})
	if err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	return nil
}

// Package tokenizer is a Go port of OpenAI CLIP's byte-level BPE tokenizer
// (clip/simple_tokenizer.py): the same vocabulary ids, the same text cleaning
// (see cleanText for what of ftfy is replicated), the same pre-tokenising
// regular expression and the same merges, so Encode and Decode give exactly
// the ids and strings CLIP's Python code gives. It also trains small BPE
// vocabularies in OpenAI's file format for the built-in demo.
package tokenizer

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"
)

const (
	// StartOfText and EndOfText are the special tokens CLIP puts around every
	// prompt; they are the last two vocabulary entries of an OpenAI file.
	StartOfText = "<|startoftext|>"
	EndOfText   = "<|endoftext|>"

	endOfWord = "</w>"

	// MaxMerges is how many merge lines simple_tokenizer reads
	// (lines[1:49152-256-2+1]); a file with more has the rest ignored.
	MaxMerges = 49152 - 256 - 2

	// maxCacheEntries bounds the word cache, which Python keeps unbounded;
	// when it is full it is emptied, which changes speed only.
	maxCacheEntries = 1 << 17
)

// pretokenizer is simple_tokenizer's pattern. Python compiles it with
// re.IGNORECASE, but the text is already lower-cased, so case-insensitivity
// matters only where a character folds onto one the pattern names: the
// special tokens and contractions (for example "'ſ" matches 's), which keep
// (?i) here. The letter and number classes are used without (?i), because
// Go's case folding would add U+0345 to [\p{L}], whereas under Python's
// regex module U+0345 matches no alternative at all (see splitWords).
var pretokenizer = regexp.MustCompile(`(?i:<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d)|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`)

// symbolPair is two adjacent BPE symbols.
type symbolPair struct{ left, right string }

// Tokenizer encodes text to CLIP token ids and back. It is safe for
// concurrent use.
type Tokenizer struct {
	vocab   []string       // id → token in byte-symbol form ("photo</w>")
	encoder map[string]int // token → id
	ranks   map[symbolPair]int
	sot     int
	eot     int

	mu    sync.Mutex
	cache map[string][]int // byte-symbol word → ids
}

// Load reads a BPE merges file in OpenAI's bpe_simple_vocab_16e6.txt format,
// gzip-compressed or plain: a header line, then one "left right" merge per
// line. Like simple_tokenizer it uses at most the first MaxMerges merges;
// a smaller file (such as a demo vocabulary written by WriteBPE) is used
// whole. An empty last line (a final newline) is not read as a merge, where
// simple_tokenizer would add an empty token; any other malformed line is an
// error naming its line number. Ids are OpenAI's: the 256 byte symbols in bytes_to_unicode() order,
// the same followed by "</w>", one token per merge, then StartOfText and
// EndOfText, so the real file gives SOT 49406, EOT 49407 and 49408 ids.
func Load(path string) (*Tokenizer, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return parseMerges(path, raw)
}

// parseMerges is Load of a file's content; path names it in errors.
func parseMerges(path string, raw []byte) (*Tokenizer, error) {
	if len(raw) >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
		}
		raw, err = io.ReadAll(zr)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
		}
	}
	if !utf8.Valid(raw) {
		return nil, fmt.Errorf("tokenizer: %s: not UTF-8 text", path)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("tokenizer: %s: empty file, want a header line followed by merge lines", path)
	}
	lines := strings.Split(string(raw), "\n")
	last := min(len(lines), 1+MaxMerges)
	merges := make([]symbolPair, 0, last-1)
	for i := 1; i < last; i++ {
		fields := strings.Fields(lines[i])
		if len(fields) == 0 && i == len(lines)-1 {
			break // the newline that ends the file
		}
		if len(fields) != 2 {
			return nil, fmt.Errorf("tokenizer: %s:%d: merge line %q has %d fields, want 2", path, i+1, lines[i], len(fields))
		}
		for _, f := range fields {
			if !isSymbolString(f) {
				return nil, fmt.Errorf("tokenizer: %s:%d: %q is not made of BPE byte symbols", path, i+1, f)
			}
		}
		merges = append(merges, symbolPair{fields[0], fields[1]})
	}

	vocab := make([]string, 0, 2*256+len(merges)+2)
	for _, b := range byteOrder {
		vocab = append(vocab, string(byteSymbol[b]))
	}
	for _, b := range byteOrder {
		vocab = append(vocab, string(byteSymbol[b])+endOfWord)
	}
	for _, m := range merges {
		vocab = append(vocab, m.left+m.right)
	}
	vocab = append(vocab, StartOfText, EndOfText)
	// dict(zip(vocab, range(len(vocab)))): a string that occurs twice keeps
	// its last id.
	encoder := make(map[string]int, len(vocab))
	for id, tok := range vocab {
		encoder[tok] = id
	}
	ranks := make(map[symbolPair]int, len(merges))
	for r, m := range merges {
		ranks[m] = r // dict(zip(...)): a repeated merge keeps its last rank
	}
	return newTokenizer(vocab, encoder, ranks), nil
}

// LoadHF reads Hugging Face's CLIP tokenizer files: vocab.json (token → id)
// and merges.txt (an optional "#version" header, then one merge per line; all
// merges are used, in file order). Ids come from vocab.json, which must number
// its tokens 0..n-1, hold all 512 byte symbols (with and without "</w>"),
// every merge result, StartOfText and EndOfText.
func LoadHF(vocabJSON, mergesTXT string) (*Tokenizer, error) {
	raw, err := os.ReadFile(vocabJSON)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	var ids map[string]int
	if err := json.Unmarshal(raw, &ids); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", vocabJSON, err)
	}
	vocab := make([]string, len(ids))
	seen := make([]bool, len(ids))
	for tok, id := range ids {
		if id < 0 || id >= len(ids) {
			return nil, fmt.Errorf("tokenizer: %s: id %d of %q is outside 0..%d", vocabJSON, id, tok, len(ids)-1)
		}
		if seen[id] {
			return nil, fmt.Errorf("tokenizer: %s: id %d is given to %q and %q", vocabJSON, id, vocab[id], tok)
		}
		if !isSymbolString(tok) {
			return nil, fmt.Errorf("tokenizer: %s: token %q is not made of BPE byte symbols", vocabJSON, tok)
		}
		seen[id] = true
		vocab[id] = tok
	}
	for _, special := range []string{StartOfText, EndOfText} {
		if _, ok := ids[special]; !ok {
			return nil, fmt.Errorf("tokenizer: %s: no %s token", vocabJSON, special)
		}
	}
	for _, b := range byteOrder {
		for _, tok := range []string{string(byteSymbol[b]), string(byteSymbol[b]) + endOfWord} {
			if _, ok := ids[tok]; !ok {
				return nil, fmt.Errorf("tokenizer: %s: byte symbol %q missing", vocabJSON, tok)
			}
		}
	}

	raw, err = os.ReadFile(mergesTXT)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	ranks := make(map[symbolPair]int)
	rank := 0
	for i, line := range strings.Split(string(raw), "\n") {
		if i == 0 && strings.HasPrefix(line, "#version") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 2 {
			return nil, fmt.Errorf("tokenizer: %s:%d: merge line %q has %d fields, want 2", mergesTXT, i+1, line, len(fields))
		}
		if _, ok := ids[fields[0]+fields[1]]; !ok {
			return nil, fmt.Errorf("tokenizer: %s:%d: merge result %q is not in %s", mergesTXT, i+1, fields[0]+fields[1], vocabJSON)
		}
		ranks[symbolPair{fields[0], fields[1]}] = rank
		rank++
	}
	return newTokenizer(vocab, ids, ranks), nil
}

func newTokenizer(vocab []string, encoder map[string]int, ranks map[symbolPair]int) *Tokenizer {
	return &Tokenizer{
		vocab:   vocab,
		encoder: encoder,
		ranks:   ranks,
		sot:     encoder[StartOfText],
		eot:     encoder[EndOfText],
		cache:   make(map[string][]int),
	}
}

// SOT is the id of StartOfText (49406 for CLIP).
func (t *Tokenizer) SOT() int { return t.sot }

// EOT is the id of EndOfText (49407 for CLIP), the largest id of CLIP's
// vocabulary, which is why CLIP finds the end of a prompt with argmax.
func (t *Tokenizer) EOT() int { return t.eot }

// VocabSize is the number of ids (49408 for CLIP).
func (t *Tokenizer) VocabSize() int { return len(t.vocab) }

// Token returns the vocabulary entry of id in byte-symbol form, for example
// "photo</w>" or "Ġ" (a space byte); "" for an id outside the vocabulary.
func (t *Tokenizer) Token(id int) string {
	if id < 0 || id >= len(t.vocab) {
		return ""
	}
	return t.vocab[id]
}

// Encode returns the ids of text, without StartOfText and EndOfText (unless
// the text spells them out). The text is cleaned as cleanText describes, split
// with simple_tokenizer's pattern, and each piece is byte-encoded and merged.
func (t *Tokenizer) Encode(text string) []int {
	ids := []int{}
	for _, word := range splitWords(cleanText(text)) {
		ids = append(ids, t.wordIDs(word)...)
	}
	return ids
}

// splitWords applies the pre-tokenising pattern. Under Python's regex module
// with IGNORECASE, U+0345 (combining ypogegrammeni, whose upper case is a
// letter) matches neither [\p{L}] nor [^\s\p{L}\p{N}], so it separates words
// and is dropped, exactly as a space is.
func splitWords(text string) []string {
	text = strings.ReplaceAll(text, "\u0345", " ")
	return pretokenizer.FindAllString(text, -1)
}

// wordIDs is bpe() of one pre-token followed by the encoder lookup, cached.
func (t *Tokenizer) wordIDs(word string) []int {
	if word == StartOfText || word == EndOfText {
		// simple_tokenizer's cache maps the special tokens to themselves.
		return []int{t.encoder[word]}
	}
	symbols := symbolsOf(word)
	t.mu.Lock()
	ids, ok := t.cache[symbols]
	t.mu.Unlock()
	if ok {
		return ids
	}
	parts := t.bpe(symbols)
	ids = make([]int, len(parts))
	for i, p := range parts {
		ids[i] = t.encoder[p] // Load and LoadHF guarantee every part exists
	}
	t.mu.Lock()
	if len(t.cache) >= maxCacheEntries {
		clear(t.cache)
	}
	t.cache[symbols] = ids
	t.mu.Unlock()
	return ids
}

// bpe splits a byte-symbol word into symbols, marks the last with "</w>", and
// repeatedly merges every occurrence (left to right, non-overlapping) of the
// adjacent pair with the lowest merge rank until no pair has a rank.
func (t *Tokenizer) bpe(symbols string) []string {
	word := make([]string, 0, utf8.RuneCountInString(symbols))
	for _, r := range symbols {
		word = append(word, string(r))
	}
	word[len(word)-1] += endOfWord
	for len(word) > 1 {
		best, bestRank := symbolPair{}, -1
		for i := 0; i+1 < len(word); i++ {
			p := symbolPair{word[i], word[i+1]}
			if r, ok := t.ranks[p]; ok && (bestRank < 0 || r < bestRank) {
				best, bestRank = p, r
			}
		}
		if bestRank < 0 {
			break
		}
		merged := word[:0:0]
		for i := 0; i < len(word); i++ {
			if i+1 < len(word) && word[i] == best.left && word[i+1] == best.right {
				merged = append(merged, best.left+best.right)
				i++
				continue
			}
			merged = append(merged, word[i])
		}
		word = merged
	}
	return word
}

// Decode concatenates the vocabulary entries of ids, turns the byte symbols
// back into bytes, decodes them as UTF-8 with Python's errors="replace"
// (one U+FFFD per maximal ill-formed subsequence) and replaces every "</w>"
// with a space. No other spaces are inserted, so [photo, graph</w>] decodes
// to "photograph ". An id outside the vocabulary (a KeyError in Python)
// decodes to U+FFFD.
func (t *Tokenizer) Decode(ids []int) string {
	var buf []byte
	for _, id := range ids {
		if id < 0 || id >= len(t.vocab) {
			buf = append(buf, "\uFFFD"...)
			continue
		}
		for _, r := range t.vocab[id] {
			buf = append(buf, byte(symbolByte[r]))
		}
	}
	return strings.ReplaceAll(decodeUTF8Replace(buf), endOfWord, " ")
}

// Tokenize is clip.tokenize for one text without truncation: StartOfText,
// the ids of text, EndOfText, then zeros up to contextLength (77 for CLIP).
// A text whose ids do not fit is an error.
func (t *Tokenizer) Tokenize(text string, contextLength int) ([]int, error) {
	ids := t.Encode(text)
	if len(ids)+2 > contextLength {
		return nil, fmt.Errorf("tokenizer: input %q is too long for context length %d (%d tokens)", text, contextLength, len(ids)+2)
	}
	out := make([]int, contextLength)
	out[0] = t.sot
	copy(out[1:], ids)
	out[1+len(ids)] = t.eot
	return out, nil
}

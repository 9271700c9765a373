package tokenizer

import "unicode/utf8"

// OpenAI's BPE works on strings of printable "byte symbols": every UTF-8 byte
// is replaced by one rune so that no token contains whitespace or control
// characters. Bytes that are already printable Latin-1 ('!'..'~', '¡'..'¬',
// '®'..'ÿ') stand for themselves; the other 68 bytes are mapped, in
// increasing byte order, to U+0100, U+0101, ... (bytes_to_unicode()).

const numByteSymbols = 256 + 68 // the largest symbol is U+0143

var (
	// byteSymbol[b] is the rune that stands for byte b.
	byteSymbol [256]rune
	// byteOrder lists the bytes in the insertion order of Python's
	// bytes_to_unicode() dict, which is the order of vocabulary ids 0..255
	// (and 256..511 for the same symbols followed by "</w>").
	byteOrder [256]byte
	// symbolByte maps a symbol rune back to its byte; -1 for runes that are
	// not symbols.
	symbolByte [numByteSymbols]int16
)

func isPrintableByte(b int) bool {
	return ('!' <= b && b <= '~') || (0xA1 <= b && b <= 0xAC) || (0xAE <= b && b <= 0xFF)
}

func init() {
	for i := range symbolByte {
		symbolByte[i] = -1
	}
	k := 0
	for b := 0; b < 256; b++ {
		if isPrintableByte(b) {
			byteOrder[k] = byte(b)
			byteSymbol[b] = rune(b)
			k++
		}
	}
	extra := 0
	for b := 0; b < 256; b++ {
		if !isPrintableByte(b) {
			byteOrder[k] = byte(b)
			byteSymbol[b] = rune(256 + extra)
			extra++
			k++
		}
	}
	for b, r := range byteSymbol {
		symbolByte[r] = int16(b)
	}
}

// isSymbolString reports whether every rune of s is a byte symbol, i.e.
// whether s can be a vocabulary entry that Decode can turn back into bytes.
func isSymbolString(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < 0 || r >= numByteSymbols || symbolByte[r] < 0 {
			return false
		}
	}
	return true
}

// symbolsOf returns the byte-symbol form of the UTF-8 bytes of word.
func symbolsOf(word string) string {
	out := make([]rune, len(word))
	for i := 0; i < len(word); i++ {
		out[i] = byteSymbol[word[i]]
	}
	return string(out)
}

// decodeUTF8Replace decodes b as UTF-8 the way Python's
// bytes.decode("utf-8", errors="replace") does: each maximal subpart of an
// ill-formed sequence (a valid lead byte followed by as many valid
// continuation bytes as fit, or a lone invalid byte) becomes one U+FFFD.
// Go's utf8.DecodeRune instead reports every byte of a truncated sequence
// separately, which would give "\xe2\x82" two replacement characters where
// Python gives one.
func decodeUTF8Replace(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]byte, 0, len(b)+8)
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || size > 1 {
			out = append(out, b[i:i+size]...)
			i += size
			continue
		}
		out = utf8.AppendRune(out, utf8.RuneError)
		i += maximalSubpart(b[i:])
	}
	return string(out)
}

// maximalSubpart returns how many bytes at the start of b (which does not
// begin with a valid UTF-8 sequence) form one ill-formed subsequence in the
// sense of the Unicode standard's "U+FFFD substitution of maximal subparts".
func maximalSubpart(b []byte) int {
	lead := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF) // allowed range of the second byte
	switch {
	case 0xC2 <= lead && lead <= 0xDF:
		need = 1
	case lead == 0xE0:
		need, lo = 2, 0xA0
	case 0xE1 <= lead && lead <= 0xEC, lead == 0xEE, lead == 0xEF:
		need = 2
	case lead == 0xED:
		need, hi = 2, 0x9F
	case lead == 0xF0:
		need, lo = 3, 0x90
	case 0xF1 <= lead && lead <= 0xF3:
		need = 3
	case lead == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	n := 1
	for k := 1; k <= need && k < len(b); k++ {
		c := b[k]
		if k == 1 {
			if c < lo || c > hi {
				break
			}
		} else if c < 0x80 || c > 0xBF {
			break
		}
		n++
	}
	return n
}

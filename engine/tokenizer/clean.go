package tokenizer

import (
	"html"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// cleanText is simple_tokenizer's
//
//	whitespace_clean(basic_clean(text)).lower()
//
// that is ftfy.fix_text, html.unescape twice, whitespace collapse and strip,
// then Python's str.lower().
//
// Python has ftfy and Go does not, so fixText replicates the part of
// ftfy 6.x's default fix_text that acts on text which is already correctly
// decoded Unicode (every realistic prompt or class name). Replicated, in
// ftfy's order and repeated until nothing changes, as ftfy does:
//   - unescape_html="auto": entities ending in ";" are decoded (HTML5 names,
//     all-caps forms of the lower-case names such as "&EACUTE;", and numeric
//     references whose result holds no ";"), unless the line being fixed or
//     an earlier line contains a literal "<";
//   - fix_c1_controls: U+0080..U+009F become their Windows-1252 characters
//     (U+0085 becomes "…");
//   - fix_latin_ligatures: ĳ, ǆ, ﬁ, ﬂ, ﬃ, ... become their letters;
//   - fix_character_width: fullwidth/halfwidth forms (U+FF01..U+FFEF) become
//     their NFKC forms and U+3000 becomes a space;
//   - uncurl_quotes: U+02BC and U+2018..U+201B become "'", U+201C..U+201F
//     become `"`;
//   - fix_line_breaks, remove_terminal_escapes (ESC [ digits/; letter),
//     remove_control_chars (U+0000..U+0008, U+000B, U+000E..U+001F, U+007F,
//     U+206A..U+206F, U+FEFF, U+FFF9..U+FFFC);
//   - normalization="NFC".
//
// Not replicated: fix_encoding, ftfy's mojibake repair (for example
// "cafÃ©" → "café", and the restore_byte_a0, replace_lossy_sequences and
// decode_inconsistent_utf8 steps that belong to it), which relies on
// heuristic "badness" statistics; fix_surrogates, which has no meaning for Go
// strings; and the max_decode_length segmentation of lines longer than a
// million characters. A Go string that is not valid UTF-8 is read as if each
// invalid byte were U+FFFD (Python strings cannot hold such bytes). Letters,
// digits and case come from Go's Unicode tables (Unicode 15); code points
// assigned later may be classed differently by a newer Python regex module.
// Checked against simple_tokenizer.py with ftfy 6.3.1 on about 3,700 texts
// (entities, mixed scripts, emoji, control characters): the only differences
// were mojibake repairs and post-Unicode-15 letters.
//
// The rest is exact: html.unescape follows Python's algorithm (numeric
// references with and without ";", Windows-1252 remapping of &#128;..&#159;,
// dropped invalid code points, HTML5 names with and without ";", longest
// prefix fallback such as "&notit;" → "¬it;"), using the HTML5 entity table
// of Go's standard library, which is the same WHATWG table as Python's
// html.entities.html5. Whitespace is Unicode White_Space as in the regex
// module. Lower-casing follows str.lower(), including "İ" → "i̇" and the
// final-sigma rule.
func cleanText(text string) string {
	text = readAsPythonString(text)
	text = fixText(text)
	text = htmlUnescape(htmlUnescape(text))
	text = collapseWhitespace(text)
	return pythonLower(text)
}

// readAsPythonString replaces every byte that is not part of valid UTF-8 by
// U+FFFD.
func readAsPythonString(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s { // an invalid byte ranges as RuneError of width 1
		b.WriteRune(r)
	}
	return b.String()
}

// fixText is ftfy.fix_text with default settings, less what cleanText's doc
// lists as not replicated. ftfy fixes the text one line at a time, and once a
// line contains "<" it stops unescaping HTML for that line and every later one.
func fixText(text string) string {
	unescape := true
	var out strings.Builder
	for len(text) > 0 {
		end := strings.IndexByte(text, '\n') + 1
		if end == 0 {
			end = len(text)
		}
		segment := text[:end]
		text = text[end:]
		if unescape && strings.Contains(segment, "<") {
			unescape = false
		}
		out.WriteString(fixSegment(segment, unescape))
	}
	return out.String()
}

func fixSegment(s string, unescape bool) string {
	for {
		orig := s
		if unescape {
			s = ftfyUnescapeHTML(s)
		}
		s = fixC1Controls(s)
		s = mapRunes(s, latinLigatures)
		s = mapRunes(s, widthMap)
		s = uncurlQuotes(s)
		s = fixLineBreaks(s)
		s = terminalEscape.ReplaceAllString(s, "")
		s = removeControlChars(s)
		s = norm.NFC.String(s)
		if s == orig {
			return s
		}
	}
}

// ftfyEntity is ftfy's HTML_ENTITY_RE: only references that end in ";".
var ftfyEntity = regexp.MustCompile(`&#?[0-9A-Za-z]{1,24};`)

func ftfyUnescapeHTML(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	return ftfyEntity.ReplaceAllStringFunc(s, func(ref string) string {
		name := ref[1:] // "name;" or "#123;"
		if v, ok := html5Entity(name); ok {
			return v
		}
		if !strings.HasPrefix(name, "#") {
			// ftfy also knows the all-caps spelling of every all-lower-case
			// entity name whose caps spelling means nothing to html.unescape.
			lower := strings.ToLower(name)
			if lower != name && strings.ToUpper(lower) == name {
				if v, ok := html5Entity(lower); ok && htmlUnescape(ref) == ref {
					return pythonUpper(v)
				}
			}
			return ref
		}
		// A numeric reference is decoded unless the result holds a ";"
		// (html.unescape decoded only part of it, or it was &#59;).
		if u := htmlUnescape(ref); !strings.Contains(u, ";") {
			return u
		}
		return ref
	})
}

// windows1252 maps 0x80..0x9F to Unicode; the five bytes Windows-1252 leaves
// undefined map to themselves, as in ftfy's "sloppy" codec and Python's
// html module.
var windows1252 = [32]rune{
	0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
	0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
}

func fixC1Controls(s string) string {
	return strings.Map(func(r rune) rune {
		if 0x80 <= r && r <= 0x9F {
			return windows1252[r-0x80]
		}
		return r
	}, s)
}

// latinLigatures is ftfy's LIGATURES table.
var latinLigatures = map[rune]string{
	'Ĳ': "IJ", 'ĳ': "ij", 'ŉ': "ʼn",
	'Ǳ': "DZ", 'ǲ': "Dz", 'ǳ': "dz", 'Ǆ': "DŽ", 'ǅ': "Dž", 'ǆ': "dž",
	'Ǉ': "LJ", 'ǈ': "Lj", 'ǉ': "lj", 'Ǌ': "NJ", 'ǋ': "Nj", 'ǌ': "nj",
	'ﬀ': "ff", 'ﬁ': "fi", 'ﬂ': "fl", 'ﬃ': "ffi", 'ﬄ': "ffl", 'ﬅ': "ſt", 'ﬆ': "st",
}

// widthMap is ftfy's WIDTH_MAP: the halfwidth and fullwidth forms block
// replaced by its NFKC forms, plus the ideographic space.
var widthMap = func() map[rune]string {
	m := map[rune]string{0x3000: " "}
	for r := rune(0xFF01); r < 0xFFF0; r++ {
		if alt := norm.NFKC.String(string(r)); alt != string(r) {
			m[r] = alt
		}
	}
	return m
}()

// mapRunes is Python's str.translate with a table of replacement strings.
func mapRunes(s string, table map[rune]string) string {
	var b *strings.Builder
	for i, r := range s {
		rep, ok := table[r]
		if !ok {
			if b != nil {
				b.WriteRune(r)
			}
			continue
		}
		if b == nil {
			b = &strings.Builder{}
			b.WriteString(s[:i])
		}
		b.WriteString(rep)
	}
	if b == nil {
		return s
	}
	return b.String()
}

func uncurlQuotes(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == 0x02BC, 0x2018 <= r && r <= 0x201B:
			return '\''
		case 0x201C <= r && r <= 0x201F:
			return '"'
		}
		return r
	}, s)
}

var lineBreaks = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\u2028", "\n", "\u2029", "\n", "\u0085", "\n")

func fixLineBreaks(s string) string { return lineBreaks.Replace(s) }

// terminalEscape is ftfy's ANSI_RE; Python's \d is any decimal digit.
var terminalEscape = regexp.MustCompile(`\x1b\[[\p{Nd};]*[a-zA-Z]`)

func removeControlChars(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r <= 0x08, r == 0x0B, 0x0E <= r && r <= 0x1F, r == 0x7F,
			0x206A <= r && r <= 0x206F, r == 0xFEFF, 0xFFF9 <= r && r <= 0xFFFC:
			return -1
		}
		return r
	}, s)
}

// htmlUnescape is Python's html.unescape: it replaces every match of
//
//	&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)
//
// scanning left to right.
func htmlUnescape(s string) string {
	amp := strings.IndexByte(s, '&')
	if amp < 0 {
		return s
	}
	var out strings.Builder
	out.WriteString(s[:amp])
	s = s[amp:]
	for len(s) > 0 {
		if s[0] != '&' {
			next := strings.IndexByte(s, '&')
			if next < 0 {
				out.WriteString(s)
				break
			}
			out.WriteString(s[:next])
			s = s[next:]
			continue
		}
		rep, n := charRef(s[1:])
		if n == 0 { // no reference here: keep the "&"
			out.WriteByte('&')
			s = s[1:]
			continue
		}
		out.WriteString(rep)
		s = s[1+n:]
	}
	return out.String()
}

// charRef matches a character reference at the start of s (just after its
// "&") and returns its replacement and length; n == 0 means no match.
func charRef(s string) (rep string, n int) {
	if strings.HasPrefix(s, "#") {
		hex := len(s) > 1 && (s[1] == 'x' || s[1] == 'X')
		if d := countDigits(s[1:], false); d > 0 {
			n = 1 + d
			rep = numericRef(s[1:n], 10)
		} else if d := countDigits(s[min(2, len(s)):], true); hex && d > 0 {
			n = 2 + d
			rep = numericRef(s[2:n], 16)
		} else {
			return "", 0 // "#" cannot start a name either
		}
		if n < len(s) && s[n] == ';' {
			n++
		}
		return rep, n
	}
	// A name: 1 to 32 characters other than tab, newline, form feed, space,
	// "<", "&", "#" and ";", then an optional ";".
	chars := 0
	for _, r := range s[n:] {
		if chars == 32 || strings.ContainsRune("\t\n\f <&#;", r) {
			break
		}
		n += utf8.RuneLen(r)
		chars++
	}
	if chars == 0 {
		return "", 0
	}
	if n < len(s) && s[n] == ';' {
		n++
	}
	name := s[:n]
	if v, ok := html5Entity(name); ok {
		return v, n
	}
	// The longest prefix of at least two characters that is an entity
	// (necessarily one of the legacy names without ";").
	runes := []rune(name)
	for x := len(runes) - 1; x > 1; x-- {
		if v, ok := html5Entity(string(runes[:x])); ok {
			return v + string(runes[x:]), n
		}
	}
	return "&" + name, n
}

func countDigits(s string, hex bool) int {
	n := 0
	for n < len(s) {
		c := s[n]
		if '0' <= c && c <= '9' || hex && ('a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			n++
			continue
		}
		break
	}
	return n
}

// numericRef decodes the digits of &#...; as Python's html module does.
func numericRef(digits string, base int) string {
	num, err := strconv.ParseInt(digits, base, 64)
	if err != nil || num > unicode.MaxRune {
		num = unicode.MaxRune + 1 // too large: Python's int is unbounded
	}
	switch {
	case num == 0:
		return "\uFFFD"
	case num == 0x0D:
		return "\r"
	case 0x80 <= num && num <= 0x9F:
		return string(windows1252[num-0x80])
	case 0xD800 <= num && num <= 0xDFFF, num > unicode.MaxRune:
		return "\uFFFD"
	case invalidCodepoint(rune(num)):
		return ""
	}
	return string(rune(num))
}

// invalidCodepoint is Python's html._invalid_codepoints (0x80..0x9F are
// handled before it is consulted).
func invalidCodepoint(r rune) bool {
	switch {
	case 0x01 <= r && r <= 0x08, r == 0x0B, 0x0E <= r && r <= 0x1F, r == 0x7F,
		0xFDD0 <= r && r <= 0xFDEF:
		return true
	}
	return r&0xFFFE == 0xFFFE // U+xFFFE and U+xFFFF of every plane
}

// html5Entity looks key ("amp;", "amp", "NotEqualTilde;") up in the HTML5
// named character reference table, which Go's html package holds but does not
// export. Every name in that table is ASCII letters and digits with an
// optional ";", and the names without ";" are the legacy single-character
// ones, each of which also exists with ";". So html.UnescapeString("&"+key)
// decodes key exactly when its result is short: a value has at most two
// runes, while html.UnescapeString's own fallback to a legacy prefix always
// leaves the rest of the name behind (at least "x;" after a one-rune value
// when key ends in ";", at least one letter when it does not). Go's table
// leaves out the two entities whose value is longer than their name.
func html5Entity(key string) (string, bool) {
	switch key {
	case "nLt;":
		return "\u226A\u20D2", true
	case "nGt;":
		return "\u226B\u20D2", true
	}
	name, semi := strings.CutSuffix(key, ";")
	if name == "" {
		return "", false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return "", false
		}
	}
	probe := "&" + key
	v := html.UnescapeString(probe)
	if v == probe {
		return "", false
	}
	n := utf8.RuneCountInString(v)
	if semi && n <= 2 || !semi && n == 1 {
		return v, true
	}
	return "", false
}

// collapseWhitespace is whitespace_clean: runs of Unicode White_Space become
// one space, and the ends are stripped.
func collapseWhitespace(s string) string {
	return strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
}

// pythonLower is Python's str.lower(): simple lower-case mappings, plus the
// full mapping of U+0130 (the only unconditional multi-rune lower-case
// mapping) and the Final_Sigma rule for U+03A3.
func pythonLower(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range s {
		switch r {
		case 'İ':
			b.WriteString("i\u0307")
		case 'Σ':
			if finalSigma(s, i) {
				b.WriteRune('ς')
			} else {
				b.WriteRune('σ')
			}
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// finalSigma reports whether the capital sigma at byte offset i follows a
// cased letter (skipping case-ignorable characters) and is not followed by
// one: \p{cased}\p{case-ignorable}* Σ !(\p{case-ignorable}* \p{cased}).
func finalSigma(s string, i int) bool {
	before := s[:i]
	for len(before) > 0 {
		r, size := utf8.DecodeLastRuneInString(before)
		before = before[:len(before)-size]
		if caseIgnorable(r) {
			continue
		}
		if !cased(r) {
			return false
		}
		for _, r := range s[i+len("Σ"):] {
			if caseIgnorable(r) {
				continue
			}
			return !cased(r)
		}
		return true
	}
	return false
}

func cased(r rune) bool {
	return unicode.In(r, unicode.Lu, unicode.Ll, unicode.Lt, unicode.Other_Lowercase, unicode.Other_Uppercase)
}

// caseIgnorable approximates Unicode's Case_Ignorable: Mn, Me, Cf, Lm, Sk
// and the Word_Break classes MidLetter, MidNumLet and Single_Quote.
func caseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', 0x00B7, 0x0387, 0x055F, 0x05F4, 0x2018, 0x2019, 0x2024,
		0x2027, 0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A:
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}

// pythonUpper is str.upper() for entity values: simple upper-case mappings
// plus the unconditional multi-rune ones reachable from HTML5 entities.
func pythonUpper(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case 'ß':
			b.WriteString("SS")
		case 'ŉ':
			b.WriteString("ʼN")
		case 'ﬀ':
			b.WriteString("FF")
		case 'ﬁ':
			b.WriteString("FI")
		case 'ﬂ':
			b.WriteString("FL")
		case 'ﬃ':
			b.WriteString("FFI")
		case 'ﬄ':
			b.WriteString("FFL")
		default:
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	return b.String()
}

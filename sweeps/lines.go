package sweeps

import (
	"fmt"
	"strconv"
	"strings"
)

// keyLines maps the path of every key, table header and array element of a
// TOML document to the line it is written on. Paths join keys with "." and
// number the elements of arrays (of tables, or inline) from 0:
//
//	experiment[1].axes.weight_std[2]
//
// BurntSushi/toml keeps key positions private, and keeps one position per
// dotted key even when [[experiment]] repeats it, so the grid decoder finds
// lines with this small scanner instead. It runs only on documents that the
// toml package has already accepted, so it need not report syntax errors; on
// anything unexpected it skips ahead rather than fail.
type keyLines map[string]int

// find returns the line of path, or of its nearest enclosing key or table
// when path itself is not written in the file (a missing key is reported at
// the header of its table); 0 if none is.
func (l keyLines) find(path string) int {
	for path != "" {
		if line, ok := l[path]; ok {
			return line
		}
		path = parentPath(path)
	}
	return 0
}

// parentPath drops the last key or element index of a path.
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func elementPath(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

func scanKeyLines(src []byte) keyLines {
	s := &lineScanner{src: src, line: 1, lines: keyLines{}, tableArrays: map[string]int{}}
	s.document()
	return s.lines
}

type lineScanner struct {
	src   []byte
	pos   int
	line  int
	lines keyLines
	// tableArrays counts the [[...]] elements seen so far per array path, so
	// that a later [a.b] header resolves a to its latest element.
	tableArrays map[string]int
	table       string // path of the table that bare key/value lines belong to
}

func (s *lineScanner) peek() byte {
	if s.pos < len(s.src) {
		return s.src[s.pos]
	}
	return 0
}

func (s *lineScanner) hasPrefix(p string) bool {
	return strings.HasPrefix(string(s.src[s.pos:min(len(s.src), s.pos+len(p))]), p)
}

// advance moves one byte on, counting lines.
func (s *lineScanner) advance() {
	if s.pos < len(s.src) {
		if s.src[s.pos] == '\n' {
			s.line++
		}
		s.pos++
	}
}

// skipBlank skips spaces, tabs and comments, and newlines too if asked.
func (s *lineScanner) skipBlank(newlines bool) {
	for s.pos < len(s.src) {
		switch c := s.src[s.pos]; {
		case c == ' ' || c == '\t' || c == '\r':
			s.pos++
		case c == '\n' && newlines:
			s.advance()
		case c == '#':
			for s.pos < len(s.src) && s.src[s.pos] != '\n' {
				s.pos++
			}
		default:
			return
		}
	}
}

func (s *lineScanner) skipLine() {
	for s.pos < len(s.src) && s.src[s.pos] != '\n' {
		s.pos++
	}
}

func (s *lineScanner) setFirst(path string, line int) {
	if _, ok := s.lines[path]; !ok {
		s.lines[path] = line
	}
}

func (s *lineScanner) document() {
	for {
		s.skipBlank(true)
		if s.pos >= len(s.src) {
			return
		}
		start := s.pos
		switch {
		case s.hasPrefix("[["):
			s.header(true)
		case s.peek() == '[':
			s.header(false)
		default:
			s.keyValue(s.table)
		}
		s.skipLine()
		if s.pos == start {
			s.advance()
		}
	}
}

// header reads [a.b] or [[a.b]] and makes it the current table.
func (s *lineScanner) header(array bool) {
	line := s.line
	if array {
		s.pos += 2
	} else {
		s.pos++
	}
	keys := s.key()
	path := ""
	for i, k := range keys {
		path = joinPath(path, k)
		if i == len(keys)-1 && array {
			n := s.tableArrays[path]
			s.tableArrays[path] = n + 1
			s.setFirst(path, line)
			path = elementPath(path, n)
		} else if n, ok := s.tableArrays[path]; ok {
			path = elementPath(path, n-1)
		} else {
			s.setFirst(path, line)
		}
	}
	s.lines[path] = line
	s.table = path
}

// keyValue reads key = value inside the table at path table.
func (s *lineScanner) keyValue(table string) {
	line := s.line
	keys := s.key()
	if len(keys) == 0 {
		return
	}
	path := table
	for _, k := range keys {
		path = joinPath(path, k)
		s.setFirst(path, line)
	}
	s.skipBlank(false)
	if s.peek() != '=' {
		return
	}
	s.pos++
	s.skipBlank(false)
	s.value(path)
}

// key reads a possibly dotted key of bare and quoted parts.
func (s *lineScanner) key() []string {
	var keys []string
	for {
		s.skipBlank(false)
		switch c := s.peek(); {
		case c == '"':
			keys = append(keys, unquoteKey(s.quoted('"')))
		case c == '\'':
			keys = append(keys, strings.Trim(s.quoted('\''), "'"))
		default:
			start := s.pos
			for s.pos < len(s.src) && isBareKeyChar(s.src[s.pos]) {
				s.pos++
			}
			if s.pos == start {
				return keys
			}
			keys = append(keys, string(s.src[start:s.pos]))
		}
		s.skipBlank(false)
		if s.peek() != '.' {
			return keys
		}
		s.pos++
	}
}

func isBareKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func unquoteKey(raw string) string {
	if k, err := strconv.Unquote(raw); err == nil {
		return k
	}
	return strings.Trim(raw, `"`)
}

// quoted reads a one-line string delimited by q and returns it with its quotes.
func (s *lineScanner) quoted(q byte) string {
	start := s.pos
	s.pos++
	for s.pos < len(s.src) && s.src[s.pos] != '\n' {
		c := s.src[s.pos]
		s.pos++
		if c == '\\' && q == '"' && s.pos < len(s.src) && s.src[s.pos] != '\n' {
			s.pos++
			continue
		}
		if c == q {
			break
		}
	}
	return string(s.src[start:s.pos])
}

// multiline skips a multi-line string, basic or literal (delim is its quote triple).
func (s *lineScanner) multiline(delim string) {
	s.pos += 3
	for s.pos < len(s.src) {
		if delim == `"""` && s.src[s.pos] == '\\' {
			s.advance()
			s.advance()
			continue
		}
		if s.hasPrefix(delim) {
			s.pos += 3
			// A closing delimiter may be preceded by up to two quotes of the content.
			for extra := 0; extra < 2 && s.peek() == delim[0]; extra++ {
				s.pos++
			}
			return
		}
		s.advance()
	}
}

// value skips one value, recording the elements of arrays and the keys of
// inline tables under path.
func (s *lineScanner) value(path string) {
	switch c := s.peek(); {
	case s.hasPrefix(`"""`):
		s.multiline(`"""`)
	case s.hasPrefix(`'''`):
		s.multiline(`'''`)
	case c == '"' || c == '\'':
		s.quoted(c)
	case c == '[':
		s.array(path)
	case c == '{':
		s.inlineTable(path)
	default:
		for s.pos < len(s.src) && !strings.ContainsRune(",]}#\n", rune(s.src[s.pos])) {
			s.pos++
		}
	}
}

func (s *lineScanner) array(path string) {
	s.pos++
	for i := 0; ; {
		s.skipBlank(true)
		start := s.pos
		switch s.peek() {
		case 0:
			return
		case ']':
			s.pos++
			return
		case ',':
			s.pos++
			i++
			continue
		}
		element := elementPath(path, i)
		s.lines[element] = s.line
		s.value(element)
		if s.pos == start {
			s.advance()
		}
	}
}

func (s *lineScanner) inlineTable(path string) {
	s.pos++
	for {
		s.skipBlank(true)
		start := s.pos
		switch s.peek() {
		case 0:
			return
		case '}':
			s.pos++
			return
		case ',':
			s.pos++
			continue
		}
		s.keyValue(path)
		if s.pos == start {
			s.advance()
		}
	}
}

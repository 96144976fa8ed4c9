package packer

import (
	"bytes"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// yamlLines converts yaml.v3's positions into Positions. YAML breaks lines
// at CR, LF, CR LF, NEL, LS and PS and counts columns in characters;
// a Position counts lines at LF, as grep, sed, text/template and the JSON
// positions do, and columns in bytes. The two agree on ASCII text whose
// lines end in LF or CR LF, which is nearly every file: for those the
// conversion is skipped.
type yamlLines struct {
	data  []byte
	lines []yamlLine // one per YAML line
}

type yamlLine struct {
	off    int // where the YAML line starts in data
	line   int // the LF line that holds it
	column int // its byte column in that LF line
}

// newYAMLLines returns the conversion for data, or nil when yaml.v3's
// positions in data are already Positions.
func newYAMLLines(data []byte) *yamlLines {
	if !needsYAMLLines(data) {
		return nil
	}
	m := &yamlLines{data: data}
	line, lineStart := 1, 0
	// A byte order mark is not a character of the first line for yaml.v3.
	start := 0
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		start = 3
	}
	for i := start; ; {
		m.lines = append(m.lines, yamlLine{off: i, line: line, column: i - lineStart + 1})
		n := 0
		for i < len(data) {
			if n = yamlBreak(data[i:]); n > 0 {
				break
			}
			i++
		}
		if n == 0 {
			return m
		}
		i += n
		if data[i-1] == '\n' {
			line, lineStart = line+1, i
		}
	}
}

// needsYAMLLines reports whether data holds a byte that makes yaml.v3's
// positions differ from Positions: a non-ASCII byte, or a CR that does not
// end a line.
func needsYAMLLines(data []byte) bool {
	for i, c := range data {
		if c >= utf8.RuneSelf || c == '\r' && (i+1 == len(data) || data[i+1] != '\n') {
			return true
		}
	}
	return false
}

// yamlBreak is the length of the YAML line break b starts with, or 0.
func yamlBreak(b []byte) int {
	switch {
	case bytes.HasPrefix(b, []byte("\r\n")):
		return 2
	case b[0] == '\r' || b[0] == '\n':
		return 1
	case bytes.HasPrefix(b, []byte("\xc2\x85")): // NEL
		return 2
	case bytes.HasPrefix(b, []byte("\xe2\x80\xa8")), bytes.HasPrefix(b, []byte("\xe2\x80\xa9")): // LS, PS
		return 3
	}
	return 0
}

// line converts a YAML line number (of an error) to an LF line number.
func (m *yamlLines) line(n int) int {
	if m == nil || n < 1 {
		return n
	}
	if n > len(m.lines) {
		return positionAt(m.data, int64(len(m.data))).Line
	}
	return m.lines[n-1].line
}

// pos converts a YAML line and character column to a Position.
func (m *yamlLines) pos(line, column int) Position {
	if m == nil || line < 1 || line > len(m.lines) || column < 1 {
		return Position{Line: m.line(line), Column: column}
	}
	l := m.lines[line-1]
	off := l.off
	for range column - 1 {
		if off >= len(m.data) || yamlBreak(m.data[off:]) > 0 {
			break
		}
		_, size := utf8.DecodeRune(m.data[off:])
		off += size
	}
	return Position{Line: l.line, Column: l.column + off - l.off}
}

// convert rewrites the positions of n and every node under it.
func (m *yamlLines) convert(n *yaml.Node) {
	if m == nil || n == nil {
		return
	}
	p := m.pos(n.Line, n.Column)
	n.Line, n.Column = p.Line, p.Column
	for _, c := range n.Content {
		m.convert(c)
	}
}

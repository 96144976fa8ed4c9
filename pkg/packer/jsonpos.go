package packer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Position is a place in a file: 1-based line and column. Lines end at
// LF in every kind of file (a YAML file's CR or NEL does not start one), and
// columns count bytes.
type Position struct {
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
}

// positionAt turns a byte offset in data into a line and column.
func positionAt(data []byte, offset int64) Position {
	if offset < 0 {
		offset = 0
	}
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := int(offset) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return Position{Line: line, Column: col}
}

// jsonIndex records where each value of a JSON document starts, by path
// ("layer", "charts[0]", "constraints.dependencies[1].type"), and which object
// keys appear twice. data must be valid JSON.
type jsonIndex struct {
	data   []byte
	values map[string]int64
	dups   []string
}

func indexJSON(data []byte) (*jsonIndex, error) {
	ix := &jsonIndex{data: data, values: map[string]int64{}}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := ix.value(dec, ""); err != nil {
		return nil, err
	}
	return ix, nil
}

// valueStart skips the separators and spaces that precede the next value.
func (ix *jsonIndex) valueStart(from int64) int64 {
	for from < int64(len(ix.data)) {
		switch ix.data[from] {
		case ' ', '\t', '\r', '\n', ',', ':':
			from++
		default:
			return from
		}
	}
	return from
}

func (ix *jsonIndex) value(dec *json.Decoder, path string) error {
	ix.values[path] = ix.valueStart(dec.InputOffset())
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			key, ok := tok.(string)
			if !ok {
				return fmt.Errorf("object key is %T", tok)
			}
			child := key
			if path != "" {
				child = path + "." + key
			}
			if seen[key] {
				ix.dups = append(ix.dups, child)
			}
			seen[key] = true
			if err := ix.value(dec, child); err != nil {
				return err
			}
		}
	case '[':
		for i := 0; dec.More(); i++ {
			if err := ix.value(dec, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

// pos is where the value at path starts, or where the closest enclosing
// value starts when path is absent (a missing field is reported at its
// object).
func (ix *jsonIndex) pos(path string) Position {
	if ix == nil {
		return Position{}
	}
	for {
		if off, ok := ix.values[path]; ok {
			return positionAt(ix.data, off)
		}
		if path == "" {
			return Position{Line: 1, Column: 1}
		}
		path = parentPath(path)
	}
}

func parentPath(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		switch path[i] {
		case '.':
			return path[:i]
		case '[':
			return path[:i]
		}
	}
	return ""
}

// jsonSyntaxError describes where JSON stops being valid.
func jsonSyntaxError(data []byte, err error) (Position, string) {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// The offset is just past the byte that broke the syntax.
		off := se.Offset - 1
		if off < 0 {
			off = 0
		}
		return positionAt(data, off), se.Error()
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return positionAt(data, int64(len(data))), "unexpected end of JSON input"
	}
	return Position{Line: 1, Column: 1}, err.Error()
}

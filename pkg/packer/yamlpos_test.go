package packer

import (
	"bytes"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestYAMLPositions checks that every scalar's Position points at its
// first byte, whatever line breaks and characters come before it.
func TestYAMLPositions(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		want       map[string]Position
	}{
		{"LF", "a: 1\nb: two\n", map[string]Position{"a": {1, 1}, "1": {1, 4}, "b": {2, 1}, "two": {2, 4}}},
		{"CR LF", "a: 1\r\nb: two\r\n", map[string]Position{"b": {2, 1}, "two": {2, 4}}},
		{"CR", "a: 1\rb: two\r", map[string]Position{"b": {1, 6}, "two": {1, 9}}},
		{"NEL", "a: 1\xc2\x85b: two", map[string]Position{"b": {1, 7}, "two": {1, 10}}},
		{"LS and PS", "a: 1\xe2\x80\xa8b: 2\xe2\x80\xa9c: 3\nd: 4", map[string]Position{"b": {1, 8}, "c": {1, 15}, "d": {2, 1}}},
		{"accents", "é: ü\nx: [ö, y]\n", map[string]Position{"é": {1, 1}, "ü": {1, 5}, "ö": {2, 5}, "y": {2, 9}}},
		{"byte order mark", "\xef\xbb\xbfa: é\nb: c\n", map[string]Position{"a": {1, 4}, "é": {1, 7}, "b": {2, 1}}},
		{"CR in a quoted scalar", "a: \"x\ry\"\rb: 1\n", map[string]Position{"b": {1, 10}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, fd := parseYAML([]byte(tc.data), false)
			if fd != nil {
				t.Fatalf("parseYAML: %+v", fd)
			}
			got := map[string]Position{}
			plain := map[string]bool{}
			var walk func(n *yaml.Node)
			walk = func(n *yaml.Node) {
				if n.Kind == yaml.ScalarNode {
					got[n.Value] = nodePos(n)
					plain[n.Value] = n.Style == 0
				}
				for _, c := range n.Content {
					walk(c)
				}
			}
			for _, d := range docs {
				walk(d)
			}
			for v, want := range tc.want {
				if got[v] != want {
					t.Errorf("%q at %+v, want %+v", v, got[v], want)
				}
			}
			lines := bytes.Split([]byte(tc.data), []byte{'\n'})
			for v, p := range got {
				if v == "" || !plain[v] {
					continue
				}
				if l := lines[p.Line-1]; !bytes.HasPrefix(l[p.Column-1:], []byte(v)) {
					t.Errorf("%q: line %d column %d holds %q", v, p.Line, p.Column, l[p.Column-1:])
				}
			}
		})
	}
}

func TestYAMLErrorLine(t *testing.T) {
	for _, tc := range []struct {
		data string
		line int
	}{
		{"a: 1\nb: 2\nc: d: e\n", 3},
		{"a: 1\rb: 2\rc: d: e\n", 1},
		{"a: 1\r\nb: 2\rc: d: e\nf: 1\n", 2},
		{"é: 1\xc2\x85b: 2\nc: d: e\n", 2},
	} {
		_, fd := parseYAML([]byte(tc.data), false)
		if fd == nil || fd.Line != tc.line {
			t.Errorf("%q: finding %+v, want line %d", tc.data, fd, tc.line)
		}
	}
}

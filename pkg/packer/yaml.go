package packer

import (
	"github.com/packyard/packyard/internal/fileread"

	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	"github.com/distribution/reference"
	"gopkg.in/yaml.v3"
)

var yamlLineErr = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// parseYAML parses every document of a YAML stream. With templated set,
// Go template actions ({{ ... }}) are first set aside: an action alone on
// its line blanks the line, an action inside a line becomes a placeholder of
// the same width, so the positions of what remains stay true. A problem is
// returned as a finding with its line; the caller fills in file and severity.
func parseYAML(data []byte, templated bool) ([]*yaml.Node, *Finding) {
	if templated {
		data = setAsideActions(data)
	}
	lines := newYAMLLines(data)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return docs, yamlFinding(data, err, lines)
		}
		if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
			lines.convert(n.Content[0])
			docs = append(docs, n.Content[0])
		}
	}
}

func yamlFinding(data []byte, err error, lines *yamlLines) *Finding {
	f := &Finding{Code: CodeInvalidYAML, Message: strings.TrimPrefix(err.Error(), "yaml: "),
		Fix: "fix the YAML syntax at that line"}
	if m := yamlLineErr.FindStringSubmatch(f.Message); m != nil {
		f.Line, _ = strconv.Atoi(m[1])
		f.Line = lines.line(f.Line)
		f.Message = m[2]
	}
	// A tab in the indentation is a common cause, and yaml's own message
	// ("found character that cannot start any token") hides it. Say so
	// when the tab is the cause: on the error's line, or named by yaml.
	tabCause := strings.Contains(f.Message, "tab") || strings.Contains(f.Message, "cannot start any token")
	if line, col := tabIndentAt(data, f.Line); line > 0 && (tabCause || line == f.Line) {
		f.Code = CodeTabIndent
		f.Line, f.Column = line, col
		f.Message = "a tab is used for indentation; YAML indents with spaces only"
		f.Fix = "replace the tabs at the start of the line with spaces"
	}
	return f
}

// tabIndentAt finds a line whose indentation holds a tab: line want if it
// has one, otherwise the first such line.
func tabIndentAt(data []byte, want int) (line, col int) {
	lines := bytes.Split(data, []byte{'\n'})
	if want > 0 && want <= len(lines) {
		if c := tabInIndent(lines[want-1]); c > 0 {
			return want, c
		}
	}
	for i, l := range lines {
		if c := tabInIndent(l); c > 0 {
			return i + 1, c
		}
	}
	return 0, 0
}

// tabInIndent is the column of a tab in a line's indentation, or 0.
func tabInIndent(l []byte) int {
	if len(bytes.TrimSpace(l)) == 0 {
		return 0
	}
	for j, c := range l {
		switch c {
		case '\t':
			return j + 1
		case ' ':
		default:
			return 0
		}
	}
	return 0
}

var actionPattern = regexp.MustCompile(`(?s)\{\{.*?\}\}`)

// setAsideActions blanks or masks Go template actions, keeping line breaks
// and widths so that YAML positions do not move.
func setAsideActions(data []byte) []byte {
	out := bytes.Clone(data)
	for _, loc := range actionPattern.FindAllIndex(data, -1) {
		for i := loc[0]; i < loc[1]; i++ {
			if out[i] != '\n' {
				out[i] = 'x'
			}
		}
	}
	// A line holding nothing but actions is template control flow
	// ({{- if ... }}, {{ end }}, {{ include ... | nindent 4 }}): drop it.
	// Masking keeps every line break, so both splits line up.
	lines := bytes.Split(out, []byte{'\n'})
	orig := bytes.Split(data, []byte{'\n'})
	for i := range lines {
		if !bytes.Contains(orig[i], []byte("{{")) && !bytes.Contains(orig[i], []byte("}}")) {
			continue
		}
		if rest := bytes.TrimSpace(actionPattern.ReplaceAll(orig[i], nil)); len(rest) == 0 || string(rest) == "-" {
			lines[i] = nil
		}
	}
	return bytes.Join(lines, []byte{'\n'})
}

func nodePos(n *yaml.Node) Position { return Position{Line: n.Line, Column: n.Column} }

// checkTopMapping requires a values document to be a mapping.
func checkTopMapping(doc *yaml.Node) *Finding {
	if doc.Kind == yaml.MappingNode || doc.Kind == yaml.ScalarNode && doc.Tag == "!!null" {
		return nil
	}
	return &Finding{Severity: SeverityError, Code: CodeInvalidYAML, Position: nodePos(doc),
		Message: "values.yaml must be a mapping of keys to values", Fix: "write it as key: value pairs"}
}

// mapGet returns the value of key in a mapping node.
func mapGet(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// missingKeys lists which keys a mapping lacks. Empty and non-mapping
// documents have nothing missing: they are not objects.
func missingKeys(doc *yaml.Node, keys ...string) []string {
	if doc.Kind != yaml.MappingNode || len(doc.Content) == 0 {
		return nil
	}
	var missing []string
	for _, k := range keys {
		if mapGet(doc, k) == nil {
			missing = append(missing, k)
		}
	}
	return missing
}

type posValue struct {
	value string
	pos   Position
}

// imageRefs lists pack.content.images[].image from a values document, the
// images an air-gapped installation mirrors.
func imageRefs(doc *yaml.Node) []posValue {
	images := mapGet(mapGet(mapGet(doc, "pack"), "content"), "images")
	if images == nil || images.Kind != yaml.SequenceNode {
		return nil
	}
	var out []posValue
	for _, item := range images.Content {
		img := mapGet(item, "image")
		if img != nil && img.Kind == yaml.ScalarNode {
			out = append(out, posValue{value: img.Value, pos: nodePos(img)})
		}
	}
	return out
}

// Images lists the container images the pack's values.yaml declares under
// pack.content.images, in order.
func (p *Pack) Images() ([]string, error) {
	data, err := fileread.Limited(p.path(ValuesFile), MaxManifestFileSize)
	if err != nil {
		return nil, err
	}
	docs, f := parseYAML(data, false)
	if f != nil {
		return nil, fmt.Errorf("%s: %s", ValuesFile, f.Location()+f.Message)
	}
	if len(docs) == 0 {
		return nil, nil
	}
	var out []string
	for _, r := range imageRefs(docs[0]) {
		out = append(out, r.value)
	}
	return out, nil
}

func validImageRef(s string) error {
	if strings.Contains(s, "{{") {
		return nil
	}
	_, err := reference.ParseNormalizedNamed(s)
	return err
}

// VersionTag maps a pack version to the OCI tag that carries it: a '+'
// (semver build metadata), which tags cannot hold, becomes '_', as helm
// does for charts.
func VersionTag(version string) string {
	return strings.ReplaceAll(version, "+", "_")
}

var templateErr = regexp.MustCompile(`^template: [^:]*:(\d+):(?:(\d+):)? (.*)$`)
var undefinedFunc = regexp.MustCompile(`function "([^"]+)" not defined`)

// funcName is what text/template accepts as a function's name. Its lexer
// reads more as names (a non-ASCII digit first), which no function can
// have, so that no template can call.
var funcName = regexp.MustCompile(`^[\p{L}_][\p{L}\p{Nd}_]*$`)

// parseTemplate parses a manifest as a Go template, the way Palette renders
// it, and reports a syntax error (an unclosed {{ if }}, a stray {{ end }})
// at its line. The functions a template calls (helm's and sprig's) are not
// known here: each one the parser asks for is defined as a no-op and the
// parse tried again, so only real syntax errors remain.
func parseTemplate(name string, data []byte) *Finding {
	funcs := template.FuncMap{}
	for range 256 {
		_, err := template.New(name).Funcs(funcs).Parse(string(data))
		if err == nil {
			return nil
		}
		if m := undefinedFunc.FindStringSubmatch(err.Error()); m != nil && funcName.MatchString(m[1]) {
			if _, ok := funcs[m[1]]; !ok {
				funcs[m[1]] = func(...any) any { return nil }
				continue
			}
		}
		f := &Finding{Severity: SeverityError, Code: CodeInvalidTemplate, File: name,
			Message: "the template does not parse: " + err.Error(),
			Fix:     "balance the {{ }} actions: every if, range and with needs its {{ end }}"}
		if m := templateErr.FindStringSubmatch(err.Error()); m != nil {
			f.Line, _ = strconv.Atoi(m[1])
			f.Message = "the template does not parse: " + m[3]
		}
		return f
	}
	return nil
}

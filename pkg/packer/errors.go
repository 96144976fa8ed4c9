package packer

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors. Every error the package returns for one of these causes
// wraps the sentinel, so callers test with errors.Is.
var (
	// ErrInvalidPack: the folder is not a usable pack (no pack.json, bad
	// JSON, lint errors before a build).
	ErrInvalidPack = errors.New("invalid pack")
	// ErrNotPack: an artifact is neither a native pack nor a Palette archive.
	ErrNotPack = errors.New("not a pack artifact")
	// ErrUnsafeContent: an artifact holds an entry that would escape the
	// target folder, a link out, a device file, a duplicate, or content that
	// does not match its descriptor.
	ErrUnsafeContent = errors.New("unsafe artifact content")
	// ErrTooLarge: an artifact unpacks to more than the allowed size or
	// number of entries.
	ErrTooLarge = errors.New("artifact too large")
	// ErrManifestTooLarge: a manifest is larger than MaxManifestSize. It is
	// an ErrTooLarge that no unpack limit lifts.
	ErrManifestTooLarge = fmt.Errorf("%w: manifest over the size limit", ErrTooLarge)
	// ErrTargetNotEmpty: the folder to unpack into holds files and Force was
	// not set.
	ErrTargetNotEmpty = errors.New("target folder is not empty")
	// ErrTargetNotFolder: the path to unpack into is a file.
	ErrTargetNotFolder = errors.New("target is not a folder")
)

// Severity says whether a finding stops a build.
type Severity string

// Severities of findings.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Finding codes: stable names for each kind of problem Lint reports.
const (
	CodeMissingFile       = "missing-file"
	CodeInvalidJSON       = "invalid-json"
	CodeInvalidType       = "invalid-type"
	CodeDuplicateKey      = "duplicate-key"
	CodeUnknownField      = "unknown-field"
	CodeDeprecatedField   = "deprecated-field"
	CodeMissingField      = "missing-field"
	CodeInvalidEnum       = "invalid-enum"
	CodeInvalidName       = "invalid-name"
	CodeVersionSemver     = "version-not-semver"
	CodeVersionPrefix     = "version-v-prefix"
	CodeInvalidVersion    = "invalid-version"
	CodeInvalidDate       = "invalid-date"
	CodeEOLPassed         = "eol-passed"
	CodeAddonType         = "addon-type"
	CodeInvalidPath       = "invalid-path"
	CodeMissingPath       = "missing-path"
	CodeWrongKind         = "wrong-kind"
	CodeDuplicateEntry    = "duplicate-entry"
	CodeLinkOutside       = "link-outside"
	CodeDanglingLink      = "dangling-link"
	CodeRoleWithoutTasks  = "role-without-tasks"
	CodeSpecialFile       = "special-file"
	CodeInvalidChart      = "invalid-chart"
	CodeChartNotPackaged  = "chart-not-packaged"
	CodeInvalidYAML       = "invalid-yaml"
	CodeTabIndent         = "tab-indent"
	CodeInvalidManifest   = "invalid-manifest"
	CodeInvalidTemplate   = "invalid-template"
	CodeInvalidLogo       = "invalid-logo"
	CodeUnreferenced      = "unreferenced-file"
	CodeInvalidDependency = "invalid-dependency"
	CodeInvalidResource   = "invalid-resource"
	CodeInvalidImage      = "invalid-image"
	CodeEmptyList         = "empty-list"
)

// Finding is one problem Lint found.
type Finding struct {
	Severity Severity `json:"severity"`
	// Code names the kind of problem; see the Code constants.
	Code string `json:"code"`
	// File is the file the problem is in, relative to the pack.
	File string `json:"file,omitempty"`
	Position
	// Field is the pack.json field path ("layer", "charts[0]") or YAML key
	// the problem is about.
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	// Fix says what to do about it.
	Fix string `json:"fix,omitempty"`
}

// Location renders "file:line:column: " (the parts it has), or "".
func (f Finding) Location() string {
	if f.File == "" {
		return ""
	}
	s := f.File
	if f.Line > 0 {
		s += ":" + strconv.Itoa(f.Line)
		if f.Column > 0 {
			s += ":" + strconv.Itoa(f.Column)
		}
	}
	return s + ": "
}

func (f Finding) String() string {
	s := f.Location() + string(f.Severity) + ": "
	if f.Field != "" {
		s += f.Field + ": "
	}
	return s + f.Message
}

// LintError is returned by Build for a pack whose lint report has errors.
type LintError struct {
	Report *Report
}

func (e *LintError) Error() string {
	n := e.Report.Errors()
	first := ""
	for _, f := range e.Report.Findings {
		if f.Severity == SeverityError {
			first = f.String()
			break
		}
	}
	if n == 1 {
		return fmt.Sprintf("pack %s has a lint error: %s", e.Report.Dir, first)
	}
	return fmt.Sprintf("pack %s has %d lint errors, the first: %s", e.Report.Dir, n, first)
}

// Unwrap lets errors.Is(err, ErrInvalidPack) match.
func (e *LintError) Unwrap() error { return ErrInvalidPack }

// UnsafeEntryError names the entry of an artifact that unpacking refused.
type UnsafeEntryError struct {
	// Layer is the title or digest of the layer holding the entry.
	Layer string
	// Entry is the entry's name as written in the artifact.
	Entry  string
	Reason string
}

func (e *UnsafeEntryError) Error() string {
	if e.Entry == "" {
		return fmt.Sprintf("layer %s: %s", e.Layer, e.Reason)
	}
	return fmt.Sprintf("layer %s: entry %q: %s", e.Layer, e.Entry, e.Reason)
}

// Unwrap lets errors.Is(err, ErrUnsafeContent) match.
func (e *UnsafeEntryError) Unwrap() error { return ErrUnsafeContent }

// kindError is an error of a kind (one of the sentinels above) whose
// message already says everything: the kind is for errors.Is, not for the
// reader, so it is not appended to the text.
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

// kindf formats an error like fmt.Errorf (wrapping with %w works) and
// marks it as of kind.
func kindf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, err: fmt.Errorf(format, args...)}
}

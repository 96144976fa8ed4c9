// Package option holds the flags that several packyard commands share,
// each declared once.
package option

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/pflag"
)

// Output is the -o flag of commands that print results: text for people,
// json for scripts.
type Output struct {
	Format string
}

// ApplyFlags adds -o/--output.
func (o *Output) ApplyFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.Format, "output", "o", "text", "output format: text or json")
}

// Validate checks the chosen format.
func (o *Output) Validate() error {
	switch o.Format {
	case "text", "json":
		return nil
	}
	return fmt.Errorf("unknown output format %q: use text or json", o.Format)
}

// JSON says whether results are printed as JSON.
func (o *Output) JSON() bool { return o.Format == "json" }

// WriteJSON prints v as indented JSON.
func (o *Output) WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

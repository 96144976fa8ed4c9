package option

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/packyard/packyard/pkg/mediatypes"
	"github.com/packyard/packyard/pkg/packer"
)

// Extract holds the flags of commands that write a pack into a folder:
// --force and the limits against hostile artifacts.
type Extract struct {
	Force    bool
	MaxSize  string
	MaxFiles int
}

// ApplyFlags adds --force, --max-size and --max-files.
func (e *Extract) ApplyFlags(fs *pflag.FlagSet) {
	fs.BoolVarP(&e.Force, "force", "f", false, "replace DIR when it holds files")
	fs.StringVar(&e.MaxSize, "max-size", "8GiB", "refuse packs that unpack to more than this")
	fs.IntVar(&e.MaxFiles, "max-files", packer.DefaultMaxUnpackEntries, "refuse packs with more files, folders and links than this")
}

// UnpackOptions turns the flags into the packer's options.
func (e *Extract) UnpackOptions() (packer.UnpackOptions, error) {
	maxSize, err := ParseBytes(e.MaxSize)
	if err != nil {
		return packer.UnpackOptions{}, fmt.Errorf("--max-size: %w", err)
	}
	return packer.UnpackOptions{Force: e.Force, MaxSize: maxSize, MaxEntries: e.MaxFiles}, nil
}

// EncodingFlag is the --format flag of commands that work on one encoding
// of a pack, or on both when it is empty.
type EncodingFlag struct {
	Encoding string
}

// ApplyFlags adds --format with the command's own description.
func (e *EncodingFlag) ApplyFlags(fs *pflag.FlagSet, usage string) {
	fs.StringVar(&e.Encoding, "format", "", usage)
}

// CheckEncoding checks the chosen encoding.
func (e *EncodingFlag) CheckEncoding() error {
	switch e.Encoding {
	case "", mediatypes.EncodingNative, mediatypes.EncodingPalette:
		return nil
	}
	return fmt.Errorf("unknown format %q: use native or palette", e.Encoding)
}

// ParseBytes reads a size such as "512MiB", "8GiB", "100MB" or "1024".
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{
		{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
		{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1},
	}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size such as 512MiB or 8GiB", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is more bytes than a size can count", s)
	}
	return n * mult, nil
}

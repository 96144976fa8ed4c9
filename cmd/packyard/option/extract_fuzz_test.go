package option

import (
	"math/big"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseBytes checks the reader of --max-size: a size it accepts is
// positive and exactly the number times its unit, never wrapped around; it
// reads back the same written as a plain number; an error quotes what was
// given.
func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{
		"8GiB", "512MiB", "100MB", "1024", "1B", "1 KiB", " 2TB ", "0", "-1GiB", "1.5GiB", "GiB", "", "8gib", "0x10",
		"9223372036854775807", "9223372036854775807B", "8388607TiB", "8388608TiB", "9223372036854775808", "+5KB", "1e3",
	} {
		f.Add(s)
	}
	units := map[string]int64{"TiB": 1 << 40, "GiB": 1 << 30, "MiB": 1 << 20, "KiB": 1 << 10, "TB": 1e12, "GB": 1e9, "MB": 1e6, "KB": 1e3, "B": 1}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseBytes(s)
		if err != nil {
			if n != 0 || !strings.Contains(err.Error(), strconv.Quote(s)) {
				t.Errorf("ParseBytes(%q) = %d, %v", s, n, err)
			}
			return
		}
		if n <= 0 {
			t.Fatalf("ParseBytes(%q) = %d", s, n)
		}
		// The size is the number times the unit, computed without limit.
		t2 := strings.TrimSpace(s)
		mult := int64(1)
		for _, u := range []string{"TiB", "GiB", "MiB", "KiB", "TB", "GB", "MB", "KB", "B"} {
			if rest, ok := strings.CutSuffix(t2, u); ok {
				t2, mult = strings.TrimSpace(rest), units[u]
				break
			}
		}
		num, ok := new(big.Int).SetString(t2, 10)
		if !ok {
			t.Fatalf("ParseBytes(%q) = %d, but %q is not a number", s, n, t2)
		}
		if want := num.Mul(num, big.NewInt(mult)); !want.IsInt64() || want.Int64() != n {
			t.Errorf("ParseBytes(%q) = %d, want %s", s, n, want)
		}
		if again, err := ParseBytes(strconv.FormatInt(n, 10)); err != nil || again != n {
			t.Errorf("ParseBytes(%q) = %d, but ParseBytes(%d) = %d, %v", s, n, n, again, err)
		}
	})
}

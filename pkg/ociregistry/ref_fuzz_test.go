package ociregistry

import (
	"fmt"
	"path"
	"strings"
	"testing"

	"oras.land/oras-go/v2/registry"

	"github.com/packyard/packyard/pkg/packer"
)

// FuzzParsePackRef checks the reader of NAME[:VERSION|@DIGEST]: what it
// accepts is a pack name that stays in its own repository, with at most one
// of a version and a valid digest, and prints back as given.
func FuzzParsePackRef(f *testing.F) {
	for _, s := range []string{
		"kubewatch", "kubewatch:3.5.0", "hello-universe:1.3.1+build.5", "a.b_c__d-e", "a--b",
		"kubewatch@sha256:" + strings.Repeat("ab", 32),
		"kubewatch@sha512:" + strings.Repeat("cd", 64),
		"kubewatch@sha256:xyz", "kubewatch@", "kubewatch:", ":1.0", "@sha256:", "",
		"Kubewatch", "team/kubewatch", "../kubewatch", "..", ".", "a:b:c", "a:b@sha256:" + strings.Repeat("0", 64),
		"a@b:c", "a:1.0/../../x", "user:pass@kubewatch", "u:p@kubewatch:1.0", "kubewatch:1@x", "a b", "a\x00b", "-a", "a-", "a..b", "a___b",
	} {
		f.Add(s)
	}
	loc := Location{Registry: "registry.example", Base: "team"}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParsePackRef(s)
		if err != nil {
			if user, rest, ok := strings.Cut(s, "@"); ok && strings.Contains(user, ":") {
				// USER:PASSWORD@: the error is the same whatever the
				// credentials, so it quotes none of them.
				if _, err2 := ParsePackRef("u:p@" + rest); err2 == nil || err2.Error() != err.Error() {
					t.Errorf("ParsePackRef(%q) fails with %q, but with other credentials %v", s, err, err2)
				}
			} else if q := fmt.Sprintf("%q", s); !strings.Contains(err.Error(), q) {
				// The error names what was given.
				t.Errorf("ParsePackRef(%q) fails with %q, which does not quote it", s, err)
			}
			return
		}
		if !validPackName(r.Name) {
			t.Errorf("ParsePackRef(%q) accepted the name %q", s, r.Name)
		}
		if r.Version != "" && r.Digest != "" {
			t.Errorf("ParsePackRef(%q) = %+v, both a version and a digest", s, r)
		}
		if r.Digest != "" && r.Digest.Validate() != nil {
			t.Errorf("ParsePackRef(%q) kept the invalid digest %q", s, r.Digest)
		}
		if strings.Contains(r.Version, "@") {
			t.Errorf("ParsePackRef(%q) = version %q with an '@'", s, r.Version)
		}
		if r.Version != "" {
			ref := registry.Reference{Registry: loc.Registry, Repository: loc.NativeRepository(r.Name), Reference: packer.VersionTag(r.Version)}
			if err := ref.ValidateReferenceAsTag(); err != nil {
				t.Errorf("ParsePackRef(%q) accepted the version %q, which no tag can hold: %v", s, r.Version, err)
			}
		}
		if got := r.String(); got != s {
			t.Errorf("ParsePackRef(%q) prints as %q", s, got)
		} else if again, err := ParsePackRef(got); err != nil || again != r {
			t.Errorf("ParsePackRef(%q) = %+v, which prints as %q, read back as %+v, %v", s, r, got, again, err)
		}
		// The name is one repository path element: it stays below the base,
		// in a repository of its own, in either encoding.
		for _, repo := range []string{loc.NativeRepository(r.Name), loc.PaletteRepository(r.Name)} {
			if path.Base(repo) != r.Name || !strings.HasPrefix(repo, loc.Base+"/") {
				t.Errorf("name %q gives the repository %q", r.Name, repo)
			}
			if err := (registry.Reference{Registry: loc.Registry, Repository: repo}).ValidateRepository(); err != nil {
				t.Errorf("name %q gives the invalid repository %q: %v", r.Name, repo, err)
			}
		}
	})
}

// FuzzParseLocation checks the reader of -r SERVER[/BASE]: what it accepts
// prints back to itself, names a valid registry and a clean base that every
// pack repository stays below; an address with credentials is refused
// without quoting them.
func FuzzParseLocation(f *testing.F) {
	for _, s := range []string{
		"localhost:5000", "localhost:5000/team", "https://registry.example/team/sub/", "http://127.0.0.1:5000",
		"oci://ghcr.io/org", " registry.example/a ", "[::1]:5000/x", "REGISTRY.example", "registry.example/Team",
		"user:pass@registry.example/team", "https://user:pa/ss@registry.example/team", "registry.example/a@b",
		"registry.example//team", "registry.example/./team", "registry.example/team/..", "registry.example/a/../b",
		"registry.example/.", "registry.example/..", "", "/", "https://", "a b", "host:port", "host:5000:1", "%41",
		"registry.example/" + strings.Repeat("a/", 64) + "z", "registry.example/a_b/c-d/e.f",
	} {
		f.Add(s)
	}
	_, credErr := ParseLocation("@")
	if credErr == nil {
		f.Fatal("ParseLocation accepted an address with an '@'")
	}
	f.Fuzz(func(t *testing.T, s string) {
		loc, err := ParseLocation(s)
		if strings.Contains(s, "@") {
			// Whatever else the address holds, the answer is the same:
			// nothing of it is quoted.
			if err == nil || err.Error() != credErr.Error() {
				t.Errorf("ParseLocation(%q) = %+v, %v; want the credentials error", s, loc, err)
			}
			return
		}
		if err != nil {
			return
		}
		if loc.Registry == "" || strings.ContainsAny(loc.Registry, "/@ \t\r\n") {
			t.Errorf("ParseLocation(%q) gives the registry %q", s, loc.Registry)
		}
		if err := (registry.Reference{Registry: loc.Registry}).ValidateRegistry(); err != nil {
			t.Errorf("ParseLocation(%q) gives the registry %q: %v", s, loc.Registry, err)
		}
		if loc.Base != "" && path.Clean(loc.Base) != loc.Base || strings.HasPrefix(loc.Base, "/") || loc.Base == "." ||
			loc.Base == ".." || strings.HasPrefix(loc.Base, "../") {
			t.Errorf("ParseLocation(%q) gives the base %q, which is not a clean relative path", s, loc.Base)
		}
		if again, err := ParseLocation(loc.String()); err != nil || again != loc {
			t.Errorf("ParseLocation(%q) = %+v, which prints as %q, read back as %+v, %v", s, loc, loc.String(), again, err)
		}
		const name = "kubewatch"
		for _, repo := range []string{loc.NativeRepository(name), loc.PaletteRepository(name), loc.PaletteBaseRepository()} {
			if loc.Base != "" && !strings.HasPrefix(repo, loc.Base+"/") {
				t.Errorf("location %+v gives the repository %q, outside its base", loc, repo)
			}
			if err := (registry.Reference{Registry: loc.Registry, Repository: repo}).ValidateRepository(); err != nil {
				t.Errorf("location %+v gives the invalid repository %q: %v", loc, repo, err)
			}
		}
	})
}

// FuzzCompareTags checks the order List and pull pick versions by, over
// tags a registry chooses: a total order, whose highest tag HighestTag
// picks.
func FuzzCompareTags(f *testing.F) {
	for _, s := range [][3]string{
		{"1.0.0", "1.0.1", "1.10.0"},
		{"1.0.0-rc.1", "1.0.0-rc.2", "1.0.0"},
		{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta"},
		{"1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1"},
		{"1.0.0_build.1", "1.0.0_build.2", "1.0.0"},
		{"v1.2.3", "1.2.3", "1.2"},
		{"latest", "main", "1.0.0"},
		{"1", "1.0", "1.0.0"},
		{"0.0.0-0", "0.0.0-a", "0.0.0--"},
		{"1.0.0-01", "1.0.0-1", "1.0.0-1a"},
		{"99999999999999999999.0.0", "1.0.0", "1.0.0-18446744073709551616"},
		{"", "_", "-"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	sign := func(n int) int {
		switch {
		case n < 0:
			return -1
		case n > 0:
			return 1
		}
		return 0
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		ab, ba := sign(CompareTags(a, b)), sign(CompareTags(b, a))
		if ab != -ba {
			t.Errorf("CompareTags(%q, %q) = %d but CompareTags(%q, %q) = %d", a, b, ab, b, a, ba)
		}
		if (ab == 0) != (a == b) {
			t.Errorf("CompareTags(%q, %q) = %d", a, b, ab)
		}
		bc, ac := sign(CompareTags(b, c)), sign(CompareTags(a, c))
		if ab <= 0 && bc <= 0 && ac > 0 {
			t.Errorf("not transitive: %q <= %q <= %q, but %q > %q", a, b, c, a, c)
		}
		highest := HighestTag([]string{a, b, c})
		for _, tag := range []string{a, b, c} {
			if CompareTags(tag, highest) > 0 {
				t.Errorf("HighestTag(%q, %q, %q) = %q, below %q", a, b, c, highest, tag)
			}
		}
	})
}

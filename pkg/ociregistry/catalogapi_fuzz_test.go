package ociregistry

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/packyard/packyard/pkg/mediatypes"
)

// FuzzCatalogAPIResponse feeds List's reader of packyard's catalog API
// answers a registry's bodies. What it returns is what the OCI API could
// list: valid pack names, each once, sorted; versions with valid tags and
// digests, each once, sorted by CompareTags; only the packs of the base
// asked for. Reading its own result again gives the same result.
func FuzzCatalogAPIResponse(f *testing.F) {
	d1, d2 := digest.FromString("one"), digest.FromString("two")
	real, _ := json.Marshal(map[string]any{"packs": []any{
		map[string]any{"name": "kubewatch", "base": "team", "versions": []VersionInfo{{
			Version: "3.5.0", Tag: "3.5.0", Encodings: []string{mediatypes.EncodingNative, mediatypes.EncodingPalette},
			Digests:     map[string]digest.Digest{mediatypes.EncodingNative: d1, mediatypes.EncodingPalette: d2},
			DisplayName: "Kubewatch", Layer: "addon", AddonType: "monitoring", CloudTypes: []string{"all"}, Group: "g", EOL: "2030-01-01",
		}}},
		map[string]any{"name": "hello-universe", "base": "team", "versions": []VersionInfo{
			{Version: "1.3.1", Tag: "1.3.1", Encodings: []string{mediatypes.EncodingPalette}, Digests: map[string]digest.Digest{mediatypes.EncodingPalette: d2}},
			{Version: "1.0.0+b", Tag: "1.0.0_b", Encodings: []string{mediatypes.EncodingNative}, Digests: map[string]digest.Digest{mediatypes.EncodingNative: d1}},
		}},
		map[string]any{"name": "elsewhere", "base": "other", "versions": []VersionInfo{
			{Version: "1", Tag: "1", Encodings: []string{mediatypes.EncodingNative}, Digests: map[string]digest.Digest{mediatypes.EncodingNative: d1}},
		}},
	}})
	f.Add(real, "team")
	f.Add(real, "")
	for _, s := range []string{
		`{"packs":[]}`,
		`{"packs":null}`,
		`{}`,
		`[]`,
		`{"packs":[{"name":"a","base":"","versions":[]}]}`,
		`{"packs":[{"name":"../../x","base":"","versions":[{"tag":"1","encodings":["native"],"digests":{"native":"` + d1.String() + `"}}]}]}`,
		`{"packs":[{"name":"a\u001b[31m","base":"","versions":[{"tag":"1","encodings":["native"],"digests":{"native":"` + d1.String() + `"}}]}]}`,
		`{"packs":[{"name":"a","base":"","versions":[{"tag":"../1","encodings":["native"],"digests":{"native":"sha256:zz"}}]}]}`,
		`{"packs":[{"name":"a","base":"","versions":[{"tag":"1","encodings":["native","native"],"digests":{"native":"` + d1.String() + `"}}]}]}`,
		`{"packs":[{"name":"a","base":"","versions":[{"tag":"1","encodings":["oci"],"digests":{"oci":"` + d1.String() + `"}}]}]}`,
		`{"packs":[{"name":"b","base":"","versions":[{"tag":"2","encodings":["palette"],"digests":{"palette":"` + d2.String() + `"}}]},` +
			`{"name":"b","base":"","versions":[{"tag":"1","encodings":["palette"],"digests":{"palette":"` + d2.String() + `"}}]}]}`,
		`{"packs":[{"name":"a","base":"","versions":[{"tag":"1","encodings":["native"],"digests":{"native":"` + d1.String() + `"}},` +
			`{"tag":"1","version":"other","encodings":["native"],"digests":{"native":"` + d1.String() + `"}}]}]}`,
		`{"packs":[{"name":"a","base":"","versions":[{"tag":"1"}]}]} trailing`,
		`{"packs":[{"name":"a","base":"","versions":[{"tag":"1","cloudTypes":"aws"}]}]}`,
		`{"packs":[{"name":"a","name":"b","base":"","versions":[{"tag":"1","encodings":["native"],"digests":{"native":"` + d1.String() + `"}}]}]}`,
		`{"packs":[` + strings.Repeat(`[`, 10000) + `]}`,
	} {
		f.Add([]byte(s), "")
	}
	f.Fuzz(func(t *testing.T, body []byte, base string) {
		out, err := decodeCatalogAPI(bytes.NewReader(body), base)
		if err != nil {
			if out != nil {
				t.Errorf("a result with the error %v", err)
			}
			return
		}
		for i, p := range out {
			if !validPackName(p.Name) {
				t.Errorf("pack name %q", p.Name)
			}
			if i > 0 && out[i-1].Name >= p.Name {
				t.Errorf("packs %q and %q out of order or twice", out[i-1].Name, p.Name)
			}
			if len(p.Versions) == 0 {
				t.Errorf("pack %q has no version", p.Name)
			}
			for k, v := range p.Versions {
				if !validCatalogVersion(v) {
					t.Errorf("pack %q: version %+v", p.Name, v)
				}
				if k > 0 && CompareTags(p.Versions[k-1].Tag, v.Tag) >= 0 {
					t.Errorf("pack %q: versions %q and %q out of order or twice", p.Name, p.Versions[k-1].Tag, v.Tag)
				}
			}
		}
		// The result, served again, reads the same.
		type pack struct {
			Name     string        `json:"name"`
			Base     string        `json:"base"`
			Versions []VersionInfo `json:"versions"`
		}
		again := struct {
			Packs []pack `json:"packs"`
		}{Packs: []pack{}}
		for _, p := range out {
			again.Packs = append(again.Packs, pack{p.Name, base, p.Versions})
		}
		data, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		out2, err := decodeCatalogAPI(bytes.NewReader(data), base)
		// (Compared as JSON: an empty list and none read the same.)
		want, _ := json.Marshal(out)
		if got, _ := json.Marshal(out2); err != nil || !bytes.Equal(got, want) {
			t.Errorf("read again: %s, %v\nwant %s", got, err, want)
		}
	})
}

package main

import "runtime/debug"

// init fills in the version of a binary built without -ldflags, such as
// one from `go install github.com/packyard/packyard/cmd/packyard@VERSION`,
// from the module and VCS information Go records.
func init() {
	if version != "dev" {
		return
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		version = v
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.time":
			date = s.Value
		}
	}
}

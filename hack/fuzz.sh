#!/usr/bin/env bash
# fuzz.sh runs every fuzz target of the module, one after another, each for
# a while.
#
#   hack/fuzz.sh 10s             every target for 10 seconds
#   hack/fuzz.sh 10s ./pkg/...   only the targets of these packages
#   hack/fuzz.sh -list           list the targets, one "PACKAGE TARGET" a line
#
# The targets are the Fuzz functions of every package's tests, found by
# name, so a new one runs without being listed anywhere. Each package's test
# binary is built once, with go test's fuzzing instrumentation, and run once
# per target from the package's folder: an input that fails is written to
# the package's testdata/fuzz/FuzzXxx/, where `go test` runs it as a
# regular test from then on, and the script fails once every target has
# run. The corpus the fuzzer grows is kept where go test keeps it,
# $GOCACHE/fuzz, or in FUZZCACHEDIR when set; a run needs none of it.
#
# FUZZMINIMIZETIME (default 5s) bounds the minimizing of each input that
# finds new code or fails: go's default, a minute, lets a short run spend
# its whole time minimizing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GO=${GO:-go}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-5s}

log() { printf 'fuzz: %s\n' "$*" >&2; }

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

[[ $# -ge 1 ]] || usage
fuzztime=$1
shift
patterns=("$@")
[[ ${#patterns[@]} -gt 0 ]] || patterns=(./...)

cd "$ROOT"

# targets prints "IMPORT_PATH DIR TARGET" for every fuzz target.
targets() {
	"$GO" list -f '{{.ImportPath}} {{.Dir}}{{range .TestGoFiles}} {{.}}{{end}}{{range .XTestGoFiles}} {{.}}{{end}}' "${patterns[@]}" |
		while read -r pkg dir files; do
			[[ -n $files ]] || continue
			# shellcheck disable=SC2086 # file names hold no spaces
			(cd "$dir" && { grep -ho '^func Fuzz[A-Za-z0-9_]*(' $files || true; }) |
				sed 's/^func \(.*\)($/\1/' | sort -u |
				while read -r target; do
					printf '%s %s %s\n' "$pkg" "$dir" "$target"
				done
		done
}

if [[ $fuzztime == -list ]]; then
	targets | awk '{ print $1, $3 }'
	exit 0
fi

bindir=$(mktemp -d)
trap 'rm -rf "$bindir"' EXIT
cache=${FUZZCACHEDIR:-$("$GO" env GOCACHE)/fuzz}

# inputs counts the files of a corpus folder, 0 when there is none.
inputs() {
	local files=()
	[[ -d $1 ]] && files=("$1"/*)
	echo "${#files[@]}"
}

failed=()
count=0
built=""
start=$SECONDS
while read -r pkg dir target; do
	bin=$bindir/$(printf '%s' "$pkg" | tr '/.' '__').test
	if [[ $pkg != "$built" ]]; then
		log "building $pkg"
		"$GO" test -c -fuzz=. -o "$bin" "$pkg" </dev/null
		built=$pkg
	fi
	count=$((count + 1))
	log "$pkg $target for $fuzztime"
	corpus=$dir/testdata/fuzz/$target
	before=$(inputs "$corpus")
	if ! (cd "$dir" && "$bin" -test.run='^$' -test.fuzz="^$target\$" -test.fuzztime="$fuzztime" \
		-test.fuzzminimizetime="$FUZZMINIMIZETIME" -test.fuzzcachedir="$cache/$pkg" -test.timeout=30m </dev/null) \
		2>&1 | tee "$bindir/out"; then
		# Go 1.26's coordinator can fail a target with a bare "context
		# deadline exceeded" when -fuzztime runs out while a worker is
		# busy (go.dev/issue/75804, fixed in Go 1.27): no input failed,
		# none is written. Anything else, or a written input, fails.
		after=$(inputs "$corpus")
		if [[ $after == "$before" ]] && grep -q '^    context deadline exceeded$' "$bindir/out" &&
			! grep -qE 'Failing input written|^panic:|_test\.go:[0-9]+:' "$bindir/out"; then
			log "$target: stopped by go.dev/issue/75804 at the time limit, no input failed"
		else
			failed+=("$pkg $target")
		fi
	fi
done < <(targets)

if [[ $count == 0 ]]; then
	log "no fuzz targets found"
	exit 1
fi
log "$count targets in $((SECONDS - start))s"
if [[ ${#failed[@]} -gt 0 ]]; then
	log "failed (the failing inputs are in the packages' testdata/fuzz):"
	printf '  %s\n' "${failed[@]}" >&2
	exit 1
fi

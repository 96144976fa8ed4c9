#!/usr/bin/env bash
# tools.sh installs the third-party tools that packyard's end-to-end tests,
# benchmarks and linting use, at pinned versions, into bin/tools (git-ignored).
#
#   hack/tools.sh              install every tool
#   hack/tools.sh oras helm    install only these
#
# A tool whose binary is already there and reports its pinned version is
# skipped, so running the script again is cheap. Set TOOLS_DIR to install
# elsewhere. Everything comes from the Go module proxy; only Go is needed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_DIR=${TOOLS_DIR:-$ROOT/bin/tools}

ORAS_VERSION=v1.3.3
HELM_VERSION=v3.22.0
CRANE_VERSION=v0.22.1
REGISTRY_VERSION=v3.1.2
GOLANGCI_LINT_VERSION=v2.15.0

ALL_TOOLS=(oras helm crane registry golangci-lint)

log() { printf 'tools: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

usage() {
	cat >&2 <<USAGE
usage: hack/tools.sh [TOOL...]

Installs pinned tools into ${TOOLS_DIR}. With no TOOL, installs all of:
  oras           ${ORAS_VERSION}   oras.land/oras (built from the module source)
  helm           ${HELM_VERSION}  helm.sh/helm/v3/cmd/helm
  crane          ${CRANE_VERSION}  github.com/google/go-containerregistry/cmd/crane
  registry       ${REGISTRY_VERSION}   github.com/distribution/distribution/v3/cmd/registry
  golangci-lint  ${GOLANGCI_LINT_VERSION}  github.com/golangci/golangci-lint/v2/cmd/golangci-lint
USAGE
}

pinned() {
	case $1 in
	oras) echo "$ORAS_VERSION" ;;
	helm) echo "$HELM_VERSION" ;;
	crane) echo "$CRANE_VERSION" ;;
	registry) echo "$REGISTRY_VERSION" ;;
	golangci-lint) echo "$GOLANGCI_LINT_VERSION" ;;
	*) return 1 ;;
	esac
}

# installed_version prints the version the tool's binary reports, or nothing.
# oras is built from its module source, so it reports the version set with
# -X; the others are built by go install and carry their module version in
# the binary's build information, which `go version -m` reads.
installed_version() {
	local bin=$TOOLS_DIR/$1
	[[ -x $bin ]] || return 0
	case $1 in
	oras) "$bin" version 2>/dev/null | awk '$1 == "Version:" { print "v" $2 }' ;;
	*) go version -m "$bin" 2>/dev/null | awk '$1 == "mod" { print $3 }' ;;
	esac
}

# install_oras builds oras into folder $1.
install_oras() {
	# `go install oras.land/oras/cmd/oras@...` is refused here, so download
	# the module's source and build it, the way oras's release builds do.
	local out=$1 tmp json dir
	tmp=$(mktemp -d)
	# Download outside any module so that no go.mod or go.sum is touched.
	json=$(cd "$tmp" && go mod download -json "oras.land/oras@${ORAS_VERSION}")
	rmdir "$tmp"
	dir=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -n $dir && -d $dir ]] || die "go mod download did not report the oras source folder:
$json"
	# The module cache is read-only: build with -o into the folder given.
	(cd "$dir" && go build -trimpath \
		-ldflags "-s -w -X oras.land/oras/internal/version.Version=${ORAS_VERSION#v}" \
		-o "$out/oras" ./cmd/oras)
}

# build_tool builds tool $1 into folder $2.
build_tool() {
	local out=$2
	case $1 in
	oras) install_oras "$out" ;;
	helm) GOBIN=$out go install "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}" ;;
	crane) GOBIN=$out go install "github.com/google/go-containerregistry/cmd/crane@${CRANE_VERSION}" ;;
	registry) GOBIN=$out go install "github.com/distribution/distribution/v3/cmd/registry@${REGISTRY_VERSION}" ;;
	golangci-lint) GOBIN=$out go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@${GOLANGCI_LINT_VERSION}" ;;
	esac
}

# install_tool builds tool $1 beside the tools folder and moves it into
# place only when the build succeeded, replacing any other version.
install_tool() {
	local staging rc=0
	staging=$(mktemp -d "$TOOLS_DIR/.install-$1.XXXXXX")
	build_tool "$1" "$staging" || rc=$?
	if ((rc == 0)); then
		mv -f "$staging/$1" "$TOOLS_DIR/$1" || rc=$?
	fi
	rm -rf "$staging"
	return "$rc"
}

main() {
	local tools=("$@") tool want have start
	case ${1:-} in
	-h | --help | help)
		usage
		return 0
		;;
	esac
	((${#tools[@]})) || tools=("${ALL_TOOLS[@]}")
	for tool in "${tools[@]}"; do
		pinned "$tool" >/dev/null || {
			usage
			die "unknown tool \"$tool\""
		}
	done
	command -v go >/dev/null || die "go is not on PATH; install Go first (https://go.dev/dl/)"
	mkdir -p "$TOOLS_DIR"

	for tool in "${tools[@]}"; do
		want=$(pinned "$tool")
		have=$(installed_version "$tool")
		if [[ $have == "$want" ]]; then
			log "$tool $want is installed ($TOOLS_DIR/$tool)"
			continue
		fi
		if [[ -n $have ]]; then
			log "$tool $have is installed but $want is pinned; reinstalling"
		fi
		log "installing $tool $want into $TOOLS_DIR (the first build takes a minute or two)"
		start=$SECONDS
		install_tool "$tool" || die "installing $tool $want failed"
		have=$(installed_version "$tool")
		[[ $have == "$want" ]] || die "$tool was installed but reports version \"$have\", not $want"
		log "installed $tool $want in $((SECONDS - start))s"
	done
}

main "$@"

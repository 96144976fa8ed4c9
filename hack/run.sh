#!/usr/bin/env bash
# `make run`: start packyard serve on its embedded default (filesystem
# storage in a local folder, no other service), publish the example packs
# into it, then list, inspect and pull them back the way a user would.
# The registry keeps serving until Ctrl-C unless RUN_KEEP=0.
#
# Settings: RUN_ADDR (127.0.0.1:5000), RUN_DATA (.run/registry),
# RUN_OUT (.run/pulled), RUN_KEEP (1), PACKYARD (bin/packyard).
set -euo pipefail

addr=${RUN_ADDR:-127.0.0.1:5000}
data=${RUN_DATA:-.run/registry}
keep=${RUN_KEEP:-1}
packyard=${PACKYARD:-bin/packyard}
reg="$addr/demo"
out=${RUN_OUT:-.run/pulled}

step() {
	echo
	echo "==> $*"
	"$@"
}

mkdir -p "$(dirname "$data")"
echo "==> $packyard serve --addr $addr --data $data"
"$packyard" serve --addr "$addr" --data "$data" --log-level warn &
server=$!
stop() {
	if kill -0 "$server" 2>/dev/null; then
		kill -TERM "$server" 2>/dev/null || true
		wait "$server" 2>/dev/null || true
	fi
}
trap stop EXIT
trap 'exit 130' INT TERM

for _ in $(seq 1 100); do
	if ! kill -0 "$server" 2>/dev/null; then
		echo "packyard serve stopped before it served: is $addr taken? Try RUN_ADDR=127.0.0.1:5001 make run" >&2
		exit 1
	fi
	if curl -fsS "http://$addr/health" >/dev/null 2>&1; then
		break
	fi
	sleep 0.1
done
curl -fsS "http://$addr/health" >/dev/null

step "$packyard" pack push examples/* -r "$reg" --plain-http
step "$packyard" pack ls -r "$reg" --plain-http
step "$packyard" pack inspect hello-chart -r "$reg" --plain-http
rm -rf "$out"
step "$packyard" pack pull hello-chart:0.1.0 "$out/hello-chart" -r "$reg" --plain-http
step "$packyard" pack pull hello-manifests:1.0.0 "$out/hello-manifests" -r "$reg" --plain-http --format palette
step diff -r examples/hello-chart "$out/hello-chart"
step diff -r examples/hello-manifests "$out/hello-manifests"
echo "no differences: both encodings come back as the example packs, byte for byte"

if [[ $keep == 1 ]]; then
	cat <<MSG

The registry is serving at $addr (content in $data). Try, in another shell:
  $packyard pack ls -r $reg --plain-http --layer addon
  oras repo ls --plain-http $reg
  curl -s http://$addr/api/v1/packs
Press Ctrl-C to stop it.
MSG
	wait "$server"
fi

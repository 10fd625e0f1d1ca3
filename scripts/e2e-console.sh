#!/usr/bin/env bash
# The console in a real browser: three local nodes (processes on OS-chosen ports on 127.0.0.1)
# form a cluster; headless Chromium (Debian's chromium), driven over the DevTools protocol by
# e2e/browser, loads node-1's console, is sent to the login form, types the admin token and
# clicks "Log in", checks that the three node IDs and the leader appear, clicks "Transfer
# leadership" and the confirmation, and reloads until another node leads. The admin API then
# confirms the new leader. The screenshot is saved as $SHOT (default bin/console.png); with
# UPDATE_DOC_IMAGE=1 it also replaces docs/images/console.png.
# Exit status: non-zero if any check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

CHROMIUM=${CHROMIUM:-chromium}
SHOT=${SHOT:-bin/console.png}
work=$(mktemp -d "${TMPDIR:-/tmp}/nebulaio-e2e-console.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ "${KEEP:-}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() {
	echo "e2e-console FAIL: $*" >&2
	for i in 1 2 3; do [ -f "$work/node-$i.log" ] && { echo "--- node-$i log (tail)" >&2; tail -n 15 "$work/node-$i.log" >&2; }; done
	exit 1
}
step() { echo "== $*"; }

command -v "$CHROMIUM" >/dev/null || fail "$CHROMIUM is not installed (apt-get install -y chromium)"
command -v curl >/dev/null || fail "curl is not installed"

bin=${NEBULAIO_BIN:-}
if [ -z "$bin" ]; then
	step "building the server"
	go build -o "$work/nebulaio" ./cmd/nebulaio
	bin=$work/nebulaio
fi
case $bin in /*) ;; *) bin=$root/$bin ;; esac
step "building the browser driver (e2e/browser)"
go build -o "$work/browser" ./e2e/browser

export NEBULAIO_ADMIN_TOKEN=e2e-console-$$-$RANDOM$RANDOM
export NEBULAIO_ACCESS_KEY=E2ECONSOLE$$ NEBULAIO_SECRET_KEY=e2e-console-secret-$$-$RANDOM
NEBULAIO_JOIN_TOKEN=$("$bin" cluster new-token)
export NEBULAIO_JOIN_TOKEN

# Five free ports per node: S3, admin, console, raft, gossip.
read -r -a ports < <(python3 -c '
import socket
socks=[socket.socket() for _ in range(15)]
for s in socks: s.bind(("127.0.0.1",0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')
port() { echo "${ports[$((5 * ($1 - 1) + $2))]}"; } # port NODE KIND (0 s3, 1 admin, 2 console, 3 raft, 4 gossip)
gossip1=127.0.0.1:$(port 1 4)

step "starting three nodes"
for i in 1 2 3; do
	cluster=(--cluster.bootstrap=true --cluster.expect_nodes=3)
	[ "$i" = 1 ] || cluster=(--cluster.bootstrap=false --cluster.join_addresses="$gossip1")
	"$bin" server --node_id="node-$i" --data_dir="$work/node-$i" \
		--s3.address="127.0.0.1:$(port "$i" 0)" --admin.address="127.0.0.1:$(port "$i" 1)" \
		--console.address="127.0.0.1:$(port "$i" 2)" --cluster.raft_address="127.0.0.1:$(port "$i" 3)" \
		--cluster.gossip_address="127.0.0.1:$(port "$i" 4)" "${cluster[@]}" \
		--log.format=json --log.level=warn >"$work/node-$i.banner" 2>"$work/node-$i.log" &
	pids+=($!)
done
admin=http://127.0.0.1:$(port 1 1)
console=http://127.0.0.1:$(port 1 2)
health() { curl -fsS --max-time 3 -H "Authorization: Bearer $NEBULAIO_ADMIN_TOKEN" "$admin/api/v1/admin/cluster/health"; }
leader_of() { sed -n 's/.*"leader_id":"\([^"]*\)".*/\1/p' <<<"$1"; }
deadline=$((SECONDS + 90))
until h=$(health 2>/dev/null) && [[ $h == *'"healthy":true'* && $h == *'"voters":3,'* ]]; do
	for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || fail "a node exited during start"; done
	[ $SECONDS -lt $deadline ] || fail "no healthy cluster of 3 voters within 90 s (last: ${h:-no answer})"
	sleep 0.3
done
before=$(leader_of "$h")
echo "   ok: three voters, leader $before, console of node-1 on $console"

if command -v aws >/dev/null; then
	step "a few writes through node-1 with the AWS CLI (the latency chart and the buckets page show them)"
	mkdir -p "$work/files"
	for i in $(seq 1 40); do echo "object $i" >"$work/files/obj-$i.txt"; done
	export AWS_ACCESS_KEY_ID=$NEBULAIO_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$NEBULAIO_SECRET_KEY AWS_DEFAULT_REGION=us-east-1
	export AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null
	s3=http://127.0.0.1:$(port 1 0)
	aws --endpoint-url "$s3" s3 mb s3://console-e2e >/dev/null || fail "create bucket"
	aws --endpoint-url "$s3" s3 cp --recursive --quiet "$work/files" s3://console-e2e/ || fail "upload"
	echo "   ok: 40 objects"
fi

step "the console in headless Chromium: log in, nodes and leader, transfer leadership"
mkdir -p "$(dirname "$SHOT")"
"$work/browser" -chromium "$CHROMIUM" -console "$console" -token "$NEBULAIO_ADMIN_TOKEN" \
	-nodes node-1,node-2,node-3 -shot "$SHOT" || fail "the browser run failed"

step "the admin API agrees that the leader changed"
deadline=$((SECONDS + 30))
until h=$(health 2>/dev/null) && after=$(leader_of "$h") && [ -n "$after" ] && [ "$after" != "$before" ]; do
	[ $SECONDS -lt $deadline ] || fail "the admin API still reports leader ${after:-none} (was $before)"
	sleep 0.3
done
echo "   ok: leader $before -> $after"
head -c 8 "$SHOT" | od -An -c | grep -q 'P   N   G' || fail "$SHOT is not a PNG"
if [ "${UPDATE_DOC_IMAGE:-}" = 1 ]; then
	mkdir -p docs/images && cp "$SHOT" docs/images/console.png
	echo "   docs/images/console.png updated"
fi
for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || fail "a node died during the run"; done
echo "e2e-console PASSED (screenshot: $SHOT)"

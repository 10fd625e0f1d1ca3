#!/usr/bin/env bash
# make bench-s3: NebulaIO against MinIO under the same S3 load, side by side, one table.
#
# Starts real processes on 127.0.0.1 with OS-chosen ports and temporary data directories:
#   set-up "1 node / 1 drive":   one NebulaIO node          | MinIO, one process over 1 drive
#   set-up "3 nodes / 3 drives": three NebulaIO nodes       | MinIO, one process over 3 drives
#                                (expect_nodes=3, RF 3)     | (erasure coding 2+1, MINIO_CI_CD=on)
# (inside a container MinIO refuses a distributed set-up on loopback, so one process over three
# drives is its peer of the three-node cluster). Within a set-up both systems run at once, and
# bench/s3load puts each scenario on one, then the other, round after round. Every process is
# stopped on exit, also on failure or Ctrl-C. MinIO is built once from the Go module proxy at
# MINIO_VERSION (about 10 minutes) and cached.
#
# Knobs (environment):
#   DURATION=5s        counted time of one run (one scenario, one system, one round)
#   WARMUP=1s          uncounted load before each run
#   ROUNDS=2           rounds per scenario per system (A B A B ...)
#   MAX_OPS=1000000    counted operations of one run at most
#   SCENARIOS=…        comma-separated OP:SIZE:WORKERS, e.g. put:4KiB:64,mix70:4KiB:16 (default:
#                      put/get 4KiB at 4 and 64 workers, put/get 1MiB at 4, mix70:4KiB:16)
#   SETUPS=1,3         which set-ups to run: 1 (one node / one drive), 3 (three nodes / three drives),
#                      3ec (three nodes with cluster.erasure=2+1 / MinIO over three drives)
#   PROFILE=           a scenario, e.g. put:4KiB:64: CPU-profile every NebulaIO node while it
#                      runs (round 1 of each set-up), into OUT (via /debug/pprof on the admin port)
#   PROFILE_KIND=profile   profile (CPU, for go tool pprof) or trace (for go tool trace)
#   OUT=bin/bench-s3   where the table, the results (JSON lines) and profiles go
#   NEBULAIO_BIN=bin/nebulaio
#   MINIO_BIN=         an existing minio binary; skips the build
#   MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
#   MINIO_CACHE=$(go env GOCACHE)/../nebulaio-minio   the build lands in $MINIO_CACHE/$MINIO_VERSION
#   KEEP=1             keep the temporary directory (data and server logs)
#   BASELINE_BIN=      another nebulaio binary (e.g. built from main): it replaces MinIO as the
#                      peer, run with the same set-up, so the ratio compares two NebulaIO builds
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-1s}
ROUNDS=${ROUNDS:-2}
MAX_OPS=${MAX_OPS:-1000000}
SCENARIOS=${SCENARIOS:-}
SETUPS=${SETUPS:-1,3}
PROFILE=${PROFILE:-}
PROFILE_KIND=${PROFILE_KIND:-profile}
OUT=${OUT:-bin/bench-s3}
NEBULAIO_BIN=${NEBULAIO_BIN:-bin/nebulaio}
MINIO_VERSION=${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}
MINIO_CACHE=${MINIO_CACHE:-$(go env GOCACHE)/../nebulaio-minio}
MINIO_BIN=${MINIO_BIN:-}
BASELINE_BIN=${BASELINE_BIN:-}

export AWS_ACCESS_KEY_ID=BENCHS3ACCESSKEY
export AWS_SECRET_ACCESS_KEY=bench-s3-secret-$$-$RANDOM$RANDOM
export NEBULAIO_ACCESS_KEY=$AWS_ACCESS_KEY_ID NEBULAIO_SECRET_KEY=$AWS_SECRET_ACCESS_KEY
export NEBULAIO_ADMIN_TOKEN=bench-s3-token-$$-$RANDOM$RANDOM

work=$(mktemp -d)
PIDS=()

stop_all() { # TERM every process started, KILL what is still there after 20 s
	local pid deadline=$((SECONDS + 20))
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do
		while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	PIDS=()
}
cleanup() {
	stop_all
	if [ "${KEEP:-}" = 1 ]; then echo "bench-s3: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	local log
	echo "bench-s3 FAIL: $*" >&2
	for log in "$work"/*.log; do
		[ -f "$log" ] || continue
		echo "--- $log (tail)" >&2
		tail -n 15 "$log" >&2
	done
	exit 1
}

# wait_http SECONDS URL PID [curl args...]: poll URL until it answers 2xx; fail if PID exits.
wait_http() {
	local secs=$1 url=$2 pid=$3
	local deadline=$((SECONDS + secs))
	shift 3
	until curl -fsS --max-time 2 "$@" "$url" >/dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || fail "process $pid exited before $url answered"
		[ $SECONDS -lt $deadline ] || fail "$url did not answer 2xx within $secs s"
		sleep 0.2
	done
}

build_tools() {
	echo "== building bench/s3load"
	(cd bench && go build -o ../bin/s3load ./s3load) || fail "cannot build bench/s3load"
	[ -x "$NEBULAIO_BIN" ] || fail "$NEBULAIO_BIN not found: run make build (or set NEBULAIO_BIN)"
	if [ -n "$BASELINE_BIN" ]; then
		[ -x "$BASELINE_BIN" ] || fail "BASELINE_BIN=$BASELINE_BIN is not an executable"
		return
	fi
	if [ -n "$MINIO_BIN" ]; then
		[ -x "$MINIO_BIN" ] || fail "MINIO_BIN=$MINIO_BIN is not an executable"
		return
	fi
	local dir=$MINIO_CACHE/$MINIO_VERSION
	MINIO_BIN=$dir/minio
	if [ -x "$MINIO_BIN" ]; then
		echo "== MinIO $MINIO_VERSION: cached in $dir"
		return
	fi
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	MINIO_BIN=$dir/minio
	echo "== building MinIO $MINIO_VERSION from the Go module proxy into $dir (about 10 minutes, once)"
	if ! GOBIN=$dir go install "github.com/minio/minio@$MINIO_VERSION" >"$dir/build.log" 2>&1 || [ ! -x "$MINIO_BIN" ]; then
		tail -n 20 "$dir/build.log" >&2
		fail "could not build MinIO $MINIO_VERSION with 'go install github.com/minio/minio@$MINIO_VERSION' (log: $dir/build.log). Check that the Go module proxy is reachable, or set MINIO_BIN to an existing minio binary."
	fi
}

# start_nebulaio N BIN TAG [FLAG...]: N hybrid nodes of the binary BIN, node-1 bootstrapping them
# together (expect_nodes=N), the others joining through its gossip port; each FLAG is passed to
# every node, TAG names their data directories and logs. Sets NEBULA_S3 and NEBULA_ADMIN
# (comma-separated host:port).
start_nebulaio() {
	local n=$1 bin=$2 tag=$3 i ports s3 admin console raft gossip gossip1 pid
	shift 3
	local -a extra=("$@")
	# Every node of a new cluster gets the same join token (docs/operations.md, "Bootstrap").
	NEBULAIO_JOIN_TOKEN=$("$bin" cluster new-token) || fail "nebulaio cluster new-token failed"
	export NEBULAIO_JOIN_TOKEN
	read -r -a ports < <(bin/s3load ports $((5 * n)))
	gossip1=127.0.0.1:${ports[4]}
	NEBULA_S3= NEBULA_ADMIN=
	local -a pids=()
	for ((i = 1; i <= n; i++)); do
		s3=${ports[$((5 * i - 5))]} admin=${ports[$((5 * i - 4))]} console=${ports[$((5 * i - 3))]}
		raft=${ports[$((5 * i - 2))]} gossip=${ports[$((5 * i - 1))]}
		local -a cluster=(--cluster.bootstrap=true --cluster.expect_nodes="$n")
		[ "$i" = 1 ] || cluster=(--cluster.bootstrap=false --cluster.join_addresses="$gossip1")
		"$bin" server --node_id="node-$i" --data_dir="$work/$tag$n-s$SETUP_SEQ-node$i" \
			--s3.address="127.0.0.1:$s3" --admin.address="127.0.0.1:$admin" --console.address="127.0.0.1:$console" \
			--cluster.raft_address="127.0.0.1:$raft" --cluster.gossip_address="127.0.0.1:$gossip" "${cluster[@]}" "${extra[@]}" \
			--log.format=json --log.level=warn >"$work/$tag$n-s$SETUP_SEQ-node$i.banner" 2>"$work/$tag$n-s$SETUP_SEQ-node$i.log" &
		pid=$!
		PIDS+=("$pid")
		pids+=("$pid")
		NEBULA_S3+=${NEBULA_S3:+,}127.0.0.1:$s3
		NEBULA_ADMIN+=${NEBULA_ADMIN:+,}127.0.0.1:$admin
	done
	local -a admins
	IFS=, read -r -a admins <<<"$NEBULA_ADMIN"
	for ((i = 0; i < n; i++)); do
		wait_http 60 "http://${admins[$i]}/health/ready" "${pids[$i]}"
	done
	local deadline=$((SECONDS + 60)) health
	until health=$(curl -fsS --max-time 2 -H "Authorization: Bearer $NEBULAIO_ADMIN_TOKEN" \
		"http://${admins[0]}/api/v1/admin/cluster/health" 2>/dev/null) &&
		[[ $health == *'"healthy":true'* && $health == *"\"voters\":$n,"* ]]; do
		[ $SECONDS -lt $deadline ] || fail "NebulaIO: no healthy cluster of $n voters within 60 s (last: ${health:-no answer})"
		sleep 0.2
	done
	local leader=${health#*\"leader_id\":\"}
	echo "== NebulaIO ($tag): $n node(s) ready, leader ${leader%%\"*}, S3 on $NEBULA_S3, admin on $NEBULA_ADMIN"
}

# start_minio D: one MinIO process over D drives (directories). Sets MINIO_S3.
start_minio() {
	local d=$1 s3 console pid i
	read -r s3 console < <(bin/s3load ports 2)
	local -a drives=()
	for ((i = 1; i <= d; i++)); do drives+=("$work/minio$d/drive$i"); done
	mkdir -p "${drives[@]}" "$work/minio$d/certs"
	MINIO_ROOT_USER=$AWS_ACCESS_KEY_ID MINIO_ROOT_PASSWORD=$AWS_SECRET_ACCESS_KEY MINIO_CI_CD=on \
		MINIO_BROWSER=off MINIO_UPDATE=off \
		"$MINIO_BIN" server --quiet --address "127.0.0.1:$s3" --console-address "127.0.0.1:$console" \
		--certs-dir "$work/minio$d/certs" "${drives[@]}" >"$work/minio$d.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	MINIO_S3=127.0.0.1:$s3
	wait_http 120 "http://$MINIO_S3/minio/health/ready" "$pid"
	echo "== MinIO: 1 process over $d drive(s) ready, S3 on $MINIO_S3"
}

# measure N LABEL [FLAG...]: both systems of a set-up up (FLAGs to every NebulaIO node), the
# scenarios through s3load, both down. The peer is MinIO, or the BASELINE_BIN build.
measure() {
	local n=$1 label=$2 peer
	shift 2
	SETUP_SEQ=$((${SETUP_SEQ:-0} + 1)) # data directories of each set-up apart (3 and 3ec)
	if [ -n "$BASELINE_BIN" ]; then
		start_nebulaio "$n" "$BASELINE_BIN" baseline "$@"
		peer="baseline=$NEBULA_S3"
	fi
	start_nebulaio "$n" "$NEBULAIO_BIN" nebulaio "$@"
	if [ -z "$BASELINE_BIN" ]; then
		start_minio "$n"
		peer="MinIO=$MINIO_S3"
	fi
	local -a args=(run -label "$label" -system "NebulaIO=$NEBULA_S3" -system "$peer"
		-out "$work/results.jsonl" -duration "$DURATION" -warmup "$WARMUP" -rounds "$ROUNDS" -max-ops "$MAX_OPS")
	[ -z "$SCENARIOS" ] || args+=(-scenarios "$SCENARIOS")
	[ -z "$PROFILE" ] || args+=(-profile "NebulaIO=$NEBULA_ADMIN" -profile-scenario "$PROFILE" -profile-kind "$PROFILE_KIND" -profile-dir "$OUT")
	# In the background, so that a signal to this script runs its trap at once rather than
	# after s3load finishes (bash defers traps while a foreground child runs).
	bin/s3load "${args[@]}" &
	local pid=$!
	PIDS=("$pid" "${PIDS[@]}")
	wait "$pid" || fail "s3load failed in set-up '$label'"
	stop_all
}

# The main body is a function, called on the last line, so that bash has read the whole script
# before running any of it (editing the file during a run then does not disturb the run).
main() {
	command -v curl >/dev/null || fail "curl is needed"
	mkdir -p "$OUT"
	build_tools
	for setup in ${SETUPS//,/ }; do
		case $setup in
		1) measure 1 "1 node / 1 drive" ;;
		3) measure 3 "3 nodes / 3 drives" ;;
		3ec) measure 3 "3 nodes EC 2+1 / 3 drives" --cluster.erasure=2+1 ;;
		*) fail "SETUPS: unknown set-up '$setup' (want a list of 1, 3 and 3ec)" ;;
		esac
	done

	cp "$work/results.jsonl" "$OUT/results.jsonl"
	local peer="MinIO $MINIO_VERSION"
	[ -z "$BASELINE_BIN" ] || peer="the NebulaIO build $BASELINE_BIN"
	{
		echo "NebulaIO $(git describe --always --dirty 2>/dev/null || echo unknown) ($NEBULAIO_BIN) against $peer; client minio-go (bench/s3load); $(date -u '+%Y-%m-%d %H:%M UTC')"
		echo
		bin/s3load table "$work/results.jsonl"
	} | tee "$OUT/table.md"
	echo "bench-s3: table in $OUT/table.md, results in $OUT/results.jsonl"
}

main "$@"; exit

# Sourced by the end-to-end scripts that run a local NebulaIO server (no Docker):
#
#   . scripts/local-server.sh
#   e2e_init NAME                       # $work: a temp dir; fail(); cleanup on exit
#   start_local_server "$work" "$bin"   # sets S3_ADDR, ADMIN_ADDR and SERVER_PID
#
# The server runs from $bin with its data in $work/data and OS-chosen ports on 127.0.0.1,
# logging to $work/server.log; it is stopped and $work removed on exit. The caller exports
# NEBULAIO_ACCESS_KEY and NEBULAIO_SECRET_KEY.

SERVER_PID=
E2E_NAME=e2e

e2e_init() {
	E2E_NAME=$1
	work=$(mktemp -d)
	trap 'stop_local_server; rm -rf "$work"' EXIT
}

# fail prints why, with the tail of the server's log, and exits 1.
fail() {
	echo "$E2E_NAME FAIL: $*" >&2
	[ -f "$work/server.log" ] && { echo "--- server log (tail)" >&2; tail -n 40 "$work/server.log" >&2; }
	exit 1
}

start_local_server() {
	local work=$1 bin=$2 deadline
	echo "== starting $bin with data in $work/data"
	: >"$work/banner" # exists before the loop below reads it, whenever the shell opens it for the server
	"$bin" server --data_dir="$work/data" --s3.address=127.0.0.1:0 --admin.address=127.0.0.1:0 \
		--console.address=127.0.0.1:0 --cluster.raft_address=127.0.0.1:0 --cluster.gossip_address=127.0.0.1:0 \
		--log.format=json --log.level=warn >"$work/banner" 2>"$work/server.log" &
	SERVER_PID=$!
	deadline=$((SECONDS + 30))
	S3_ADDR= ADMIN_ADDR=
	until [ -n "$S3_ADDR" ] && [ -n "$ADMIN_ADDR" ]; do
		kill -0 "$SERVER_PID" 2>/dev/null || fail "the server exited during start"
		[ $SECONDS -lt $deadline ] || fail "no banner within 30s"
		S3_ADDR=$(sed -n 's|^ *S3: *http://\([^ ]*\).*|\1|p' "$work/banner" | head -1)
		ADMIN_ADDR=$(sed -n 's|^ *Admin: *http://\([^ ]*\).*|\1|p' "$work/banner" | head -1)
		[ -n "$S3_ADDR" ] || sleep 0.2
	done
	until curl -fsS --max-time 2 "http://$ADMIN_ADDR/health/ready" >/dev/null 2>&1; do
		kill -0 "$SERVER_PID" 2>/dev/null || fail "the server exited before it was ready"
		[ $SECONDS -lt $deadline ] || fail "/health/ready did not answer 200 within 30s"
		sleep 0.2
	done
}

stop_local_server() {
	if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
}

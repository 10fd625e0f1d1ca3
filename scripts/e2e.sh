#!/usr/bin/env bash
# End-to-end tests against real containers. Needs a Docker engine and the image built by
# `make image` (IMAGE, default nebulaio:dev). Every container it starts is removed on exit.
set -euo pipefail

IMAGE=${IMAGE:-nebulaio:dev}
RUN_ID=nebulaio-e2e-$$
containers=()

cleanup() {
	for c in "${containers[@]}"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

fail() { echo "e2e FAIL: $*" >&2; for c in "${containers[@]}"; do echo "--- logs of $c" >&2; docker logs "$c" >&2 || true; done; exit 1; }

# wait_http URL SECONDS: poll until URL answers 2xx or the deadline passes.
wait_http() {
	local url=$1 deadline=$((SECONDS + $2))
	until curl -fsS --max-time 2 "$url" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.5
	done
}

echo "== single node: start, probe, stop"
c=$RUN_ID-single
docker run -d --name "$c" -p 127.0.0.1::9001 "$IMAGE" >/dev/null
containers+=("$c")
port=$(docker port "$c" 9001/tcp | head -1 | sed 's/.*://')
wait_http "http://127.0.0.1:$port/health/live" 30 || fail "/health/live did not answer within 30s"
curl -fsS "http://127.0.0.1:$port/metrics" | grep -q '^go_goroutines' || fail "/metrics lacks go_goroutines"
docker stop -t 20 "$c" >/dev/null
code=$(docker inspect -f '{{.State.ExitCode}}' "$c")
[ "$code" = 0 ] || fail "exit code after docker stop (SIGTERM) is $code, want 0"
echo "   ok: live, metrics, clean stop"

echo "e2e PASSED"

#!/usr/bin/env bash
# End-to-end tests against real containers, then the fault suite's short profile (processes in
# network namespaces: root, iproute2, iptables). Needs a Docker engine and the image built by
# `make image` (IMAGE, default nebulaio:dev). Every container it starts is removed on exit.
set -euo pipefail

IMAGE=${IMAGE:-nebulaio:dev}
RUN_ID=nebulaio-e2e-$$
containers=()

cleanup() {
	for c in "${containers[@]}"; do docker rm -f -v "$c" >/dev/null 2>&1 || true; done
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

echo "== client matrix: minio-go, AWS SDK for Go v2, boto3 against a local server"
if [ -z "${NEBULAIO_BIN:-}" ] && [ -x bin/nebulaio-linux ]; then
	export NEBULAIO_BIN=bin/nebulaio-linux # built by make image
fi
./scripts/e2e-clients.sh || fail "client matrix (scripts/e2e-clients.sh)"

echo "== versions, tags and exact metadata: AWS CLI and boto3 against a local server"
./scripts/e2e-versioning.sh || fail "versioning end-to-end (scripts/e2e-versioning.sh)"

echo "== s3cmd and rclone against a local server"
./scripts/e2e-tools.sh || fail "s3cmd and rclone end-to-end (scripts/e2e-tools.sh)"

echo "== object lock, lifecycle, CORS and browser uploads: AWS CLI, curl and headless Chromium"
./scripts/e2e-governance.sh || fail "governance end-to-end (scripts/e2e-governance.sh)"

echo "== users, keys, bucket policies and anonymous requests: nebulaio admin, AWS CLI and curl"
./scripts/e2e-iam.sh || fail "identities and access end-to-end (scripts/e2e-iam.sh)"

echo "== the console in headless Chromium: log in, nodes and leader, transfer leadership (3 local nodes)"
./scripts/e2e-console.sh || fail "console end-to-end (scripts/e2e-console.sh)"

export AWS_ACCESS_KEY_ID=E2ESINGLE$$ AWS_SECRET_ACCESS_KEY=e2e-single-secret-$$-$RANDOM

echo "== single node: start, probe, S3 with the AWS CLI, stop"
c=$RUN_ID-single
docker run -d --name "$c" -p 127.0.0.1::9000 -p 127.0.0.1::9001 \
	-e NEBULAIO_ACCESS_KEY="$AWS_ACCESS_KEY_ID" -e NEBULAIO_SECRET_KEY="$AWS_SECRET_ACCESS_KEY" "$IMAGE" >/dev/null
containers+=("$c")
port=$(docker port "$c" 9001/tcp | head -1 | sed 's/.*://')
s3port=$(docker port "$c" 9000/tcp | head -1 | sed 's/.*://')
wait_http "http://127.0.0.1:$port/health/live" 30 || fail "/health/live did not answer within 30s"
wait_http "http://127.0.0.1:$port/health/ready" 30 || fail "/health/ready did not answer 200 within 30s"
metrics=$(curl -fsS "http://127.0.0.1:$port/metrics") || fail "/metrics did not answer"
grep -q '^go_goroutines' <<<"$metrics" || fail "/metrics lacks go_goroutines"
if command -v aws >/dev/null; then
	ENDPOINT=http://127.0.0.1:$s3port ./scripts/e2e-s3.sh || fail "S3 end-to-end with the AWS CLI"
else
	fail "the aws CLI is not installed (apt-get install -y awscli; .ci/run does it)"
fi
docker stop -t 20 "$c" >/dev/null
code=$(docker inspect -f '{{.State.ExitCode}}' "$c")
[ "$code" = 0 ] || fail "exit code after docker stop (SIGTERM) is $code, want 0"
echo "   ok: live, ready, metrics, AWS CLI, clean stop"

./scripts/e2e-cluster.sh || fail "cluster end-to-end"

echo "== fault suite, short profile: real processes in network namespaces (scripts/faults.sh)"
./scripts/faults.sh -profile short || fail "fault suite (scripts/faults.sh -profile short)"

echo "e2e PASSED"

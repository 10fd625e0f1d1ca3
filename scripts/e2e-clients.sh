#!/usr/bin/env bash
# The client matrix (e2e/clients) against a local NebulaIO server: minio-go, the AWS SDK for
# Go v2 and boto3 with their default options, every object read back, one PASS/FAIL table.
#
#   scripts/e2e-clients.sh            # builds the server unless NEBULAIO_BIN names one
#
# The server runs from NEBULAIO_BIN (default: built into a temp dir) with its data in a temp
# dir and OS-chosen ports on 127.0.0.1; it is stopped and the data removed on exit. boto3 runs
# with PYTHON (default python3); without boto3 the run fails, unless SKIP_BOTO3=1. MAX_SIZE
# (bytes, default 70 MiB) bounds the objects uploaded. Exit status: non-zero if any check fails.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
. scripts/local-server.sh
e2e_init e2e-clients

bin=${NEBULAIO_BIN:-}
if [ -z "$bin" ]; then
	echo "== building the server"
	go build -o "$work/nebulaio" ./cmd/nebulaio
	bin=$work/nebulaio
fi
echo "== building the client matrix"
(cd e2e/clients && go build -o "$work/clients" .)

boto3=(-boto3 "$PWD/e2e/clients/boto3_matrix.py" -python "$PYTHON")
if ! "$PYTHON" -c 'import boto3' 2>/dev/null; then
	[ "${SKIP_BOTO3:-}" = 1 ] || fail "boto3 is not installed for $PYTHON (apt-get install -y python3-boto3, or SKIP_BOTO3=1)"
	echo "== boto3 SKIPPED (SKIP_BOTO3=1)"
	boto3=()
fi

export NEBULAIO_ACCESS_KEY=E2ECLIENTS$$ NEBULAIO_SECRET_KEY=e2e-clients-secret-$$-$RANDOM
start_local_server "$work" "$bin"
s3=$S3_ADDR

echo "== client matrix against http://$s3"
"$work/clients" -endpoint "http://$s3" -access-key "$NEBULAIO_ACCESS_KEY" -secret-key "$NEBULAIO_SECRET_KEY" \
	-max-size "${MAX_SIZE:-73400320}" "${boto3[@]}" 2>"$work/progress" || {
	tail -n 5 "$work/progress" >&2
	fail "client matrix"
}
kill -0 "$SERVER_PID" 2>/dev/null || fail "the server died during the matrix"
echo "e2e-clients PASSED"

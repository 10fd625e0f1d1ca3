#!/usr/bin/env bash
# s3cmd and rclone, unmodified and with their usual settings, against a local NebulaIO server
# (no Docker): the two command-line tools of issue 17's client list that the AWS CLI, boto3 and
# the Go client matrix do not cover.
#
#   scripts/e2e-tools.sh     # builds the server unless NEBULAIO_BIN names one
#
# s3cmd: mb, put (small, and 20 MiB as multipart), get, ls, la, info (metadata with its exact
# case), cp between buckets, sync of a directory, del, rb. rclone: mkdir, copy and sync of a
# directory tree (check --download compares every byte), lsjson, moveto, versions of a
# versioned bucket (--s3-versions), purge. Exit status: non-zero if any check fails.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/local-server.sh
e2e_init e2e-tools
step() { echo "== $*"; }

command -v s3cmd >/dev/null || fail "s3cmd is not installed (apt-get install -y s3cmd)"
command -v rclone >/dev/null || fail "rclone is not installed (apt-get install -y rclone)"

bin=${NEBULAIO_BIN:-}
if [ -z "$bin" ]; then
	step "building the server"
	go build -o "$work/nebulaio" ./cmd/nebulaio
	bin=$work/nebulaio
fi
export NEBULAIO_ACCESS_KEY=E2ETOOLS$$ NEBULAIO_SECRET_KEY=e2e-tools-secret-$$-$RANDOM
start_local_server "$work" "$bin"

# s3cmd: path-style requests to the endpoint, SigV4 (its default), plain HTTP.
cat >"$work/s3cfg" <<CFG
[default]
access_key = $NEBULAIO_ACCESS_KEY
secret_key = $NEBULAIO_SECRET_KEY
host_base = $S3_ADDR
host_bucket = $S3_ADDR
use_https = False
signature_v2 = False
CFG
s3c() { s3cmd -c "$work/s3cfg" --no-progress "$@"; }
s3cmd --version

# rclone: a remote of provider Other, configured through the environment only.
export RCLONE_CONFIG=/dev/null RCLONE_CONFIG_NEB_TYPE=s3 RCLONE_CONFIG_NEB_PROVIDER=Other \
	RCLONE_CONFIG_NEB_ENDPOINT=http://$S3_ADDR RCLONE_CONFIG_NEB_ACCESS_KEY_ID=$NEBULAIO_ACCESS_KEY \
	RCLONE_CONFIG_NEB_SECRET_ACCESS_KEY=$NEBULAIO_SECRET_KEY RCLONE_CONFIG_NEB_FORCE_PATH_STYLE=true
# AWS_CA_BUNDLE (set on some machines for the AWS CLI) makes rclone's S3 client refuse its own
# HTTP transport, so rclone runs without it; the endpoint is plain HTTP.
rc() { env -u AWS_CA_BUNDLE rclone -q "$@"; }
env -u AWS_CA_BUNDLE rclone version | sed -n 1p # sed reads to the end: head -1 can SIGPIPE rclone, and pipefail fails the script

step "s3cmd: buckets, small and multipart objects, metadata, copy, sync, delete"
s3c mb s3://tools-a >/dev/null
s3c mb s3://tools-b >/dev/null
s3c ls >"$work/buckets"
grep -q 's3://tools-a' "$work/buckets" || fail "s3cmd ls does not list tools-a"
echo "hello from s3cmd" >"$work/small"
head -c $((20 << 20)) /dev/urandom >"$work/big"
s3c put --add-header=x-amz-meta-colour:Blue --mime-type=text/plain "$work/small" s3://tools-a/dir/small.txt >/dev/null
s3c put --multipart-chunk-size-mb=5 "$work/big" s3://tools-a/big.bin >/dev/null
s3c get "s3://tools-a/dir/small.txt" "$work/small.back" >/dev/null
cmp -s "$work/small" "$work/small.back" || fail "s3cmd get of the small object differs"
s3c get "s3://tools-a/big.bin" "$work/big.back" >/dev/null
cmp -s "$work/big" "$work/big.back" || fail "s3cmd get of the 20 MiB multipart object differs"
s3c info s3://tools-a/dir/small.txt >"$work/info"
grep -q 'x-amz-meta-colour: Blue' "$work/info" || fail "s3cmd info lost the metadata's case: $(cat "$work/info")"
grep -q 'MIME type: *text/plain' "$work/info" || fail "s3cmd info: content type $(grep MIME "$work/info")"
s3c la >"$work/la"
n=$(grep -c 's3://tools-a/' "$work/la" || true)
[ "$n" = 2 ] || fail "s3cmd la lists $n objects of tools-a, want 2"
s3c cp s3://tools-a/big.bin s3://tools-b/copied.bin >/dev/null
s3c get s3://tools-b/copied.bin "$work/big.back" --force >/dev/null
cmp -s "$work/big" "$work/big.back" || fail "s3cmd cp between buckets differs"
mkdir -p "$work/tree/sub"
for i in 1 2 3 4 5; do head -c $((i * 1000)) /dev/urandom >"$work/tree/f$i"; done
head -c 70000 /dev/urandom >"$work/tree/sub/deep"
s3c sync "$work/tree/" s3://tools-b/tree/ >/dev/null
rm "$work/tree/f1"
echo changed >"$work/tree/f2"
s3c sync --delete-removed "$work/tree/" s3://tools-b/tree/ >/dev/null
s3c sync s3://tools-b/tree/ "$work/tree.back/" >/dev/null
diff -r "$work/tree" "$work/tree.back" || fail "s3cmd sync round trip differs"
s3c del --recursive --force s3://tools-a >/dev/null
s3c rb s3://tools-a >/dev/null
if s3c ls s3://tools-a >/dev/null 2>&1; then fail "tools-a still exists after rb"; fi
echo "   ok: s3cmd"

step "rclone: copy, sync, check every byte, move, versions, purge"
rc mkdir neb:tools-r
rc copy "$work/tree" neb:tools-r/tree
rc check --download "$work/tree" neb:tools-r/tree || fail "rclone check after copy"
echo "changed again" >"$work/tree/f3"
cp "$work/big" "$work/tree/big.bin"
rc sync "$work/tree" neb:tools-r/tree
rc check --download "$work/tree" neb:tools-r/tree || fail "rclone check after sync (multipart upload of 20 MiB included)"
rc moveto neb:tools-r/tree/f4 neb:tools-r/moved/f4
rc lsjson -R neb:tools-r >"$work/ls.json"
grep -q '"Path":"moved/f4"' "$work/ls.json" || fail "rclone moveto: moved/f4 not listed"
if grep -q '"Path":"tree/f4"' "$work/ls.json"; then fail "rclone moveto left tree/f4 behind"; fi
# Versions: a versioned bucket written twice, listed and read by version through rclone.
s3c setversioning s3://tools-r enable >/dev/null 2>&1 ||
	AWS_ACCESS_KEY_ID=$NEBULAIO_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$NEBULAIO_SECRET_KEY AWS_DEFAULT_REGION=us-east-1 \
		aws --endpoint-url "http://$S3_ADDR" s3api put-bucket-versioning --bucket tools-r --versioning-configuration Status=Enabled
echo one >"$work/v"
rc copyto "$work/v" neb:tools-r/ver.txt
echo two >"$work/v"
rc copyto "$work/v" neb:tools-r/ver.txt
rc lsf --s3-versions neb:tools-r --include 'ver*' >"$work/versions"
n=$(grep -c '^ver' "$work/versions" || true)
[ "$n" = 2 ] || fail "rclone --s3-versions lists $n entries for ver.txt, want 2 (current and one older version): $(rc lsf --s3-versions neb:tools-r)"
old=$(grep '^ver-v' "$work/versions" | head -1)
[ "$(rc cat --s3-versions "neb:tools-r/$old")" = one ] || fail "rclone cat of the old version $old"
[ "$(rc cat neb:tools-r/ver.txt)" = two ] || fail "rclone cat of the current version"
rc purge neb:tools-r || true
rc delete --s3-versions neb:tools-r 2>/dev/null || true
echo "   ok: rclone"
echo "e2e-tools PASSED"

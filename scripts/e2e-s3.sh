#!/usr/bin/env bash
# S3 end-to-end check with the AWS CLI (Debian: apt-get install -y awscli) against a running
# NebulaIO S3 endpoint:
#
#   ENDPOINT=http://127.0.0.1:9000 AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... scripts/e2e-s3.sh
#
# mb; cp up and down of a 100 MiB file (multipart); ls --recursive; sync up and back; presign +
# curl; rm; rb. Every step is checked; any mismatch exits non-zero. SIZE_MIB overrides 100.
set -euo pipefail

: "${ENDPOINT:?set ENDPOINT, e.g. http://127.0.0.1:9000}"
: "${AWS_ACCESS_KEY_ID:?set AWS_ACCESS_KEY_ID}"
: "${AWS_SECRET_ACCESS_KEY:?set AWS_SECRET_ACCESS_KEY}"
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
SIZE_MIB=${SIZE_MIB:-100}

work=$(mktemp -d)
BUCKET=e2e-s3-$(date +%s)-$$
cleanup() {
	aws --endpoint-url "$ENDPOINT" s3 rb --force "s3://$BUCKET" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "e2e-s3 FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

# SigV4 everywhere (presign included) and path-style addressing, whatever the user's config.
if [ -z "${AWS_CONFIG_FILE:-}" ]; then
	export AWS_CONFIG_FILE=$work/aws-config
	printf '[default]\ns3 =\n    signature_version = s3v4\n    addressing_style = path\n' >"$AWS_CONFIG_FILE"
fi
export AWS_SHARED_CREDENTIALS_FILE=/dev/null
s3() { aws --endpoint-url "$ENDPOINT" s3 "$@"; }
s3api() { aws --endpoint-url "$ENDPOINT" s3api "$@"; }

command -v aws >/dev/null || fail "the aws CLI is not installed (apt-get install -y awscli)"
aws --version

step "mb s3://$BUCKET"
s3 mb "s3://$BUCKET" >/dev/null
listing=$(s3 ls); grep -q " $BUCKET\$" <<<"$listing" || fail "bucket $BUCKET not listed after mb"

step "cp up and down of a ${SIZE_MIB} MiB file (multipart)"
head -c "$((SIZE_MIB << 20))" /dev/urandom >"$work/big.bin"
s3 cp --only-show-errors "$work/big.bin" "s3://$BUCKET/dir/big.bin"
etag=$(s3api head-object --bucket "$BUCKET" --key dir/big.bin --query ETag --output text)
case "$etag" in
*-*) ;;
*) fail "ETag $etag of a ${SIZE_MIB} MiB upload is not a multipart ETag" ;;
esac
size=$(s3api head-object --bucket "$BUCKET" --key dir/big.bin --query ContentLength --output text)
[ "$size" = "$((SIZE_MIB << 20))" ] || fail "stored size $size"
s3 cp --only-show-errors "s3://$BUCKET/dir/big.bin" "$work/big.down"
cmp "$work/big.bin" "$work/big.down" || fail "downloaded file differs"

step "cp from stdin (multipart of unknown length) and back to stdout"
head -c $((20 << 20)) /dev/urandom >"$work/stream.bin"
s3 cp --only-show-errors - "s3://$BUCKET/dir/stream.bin" <"$work/stream.bin"
s3 cp --only-show-errors "s3://$BUCKET/dir/stream.bin" - | cmp - "$work/stream.bin" || fail "streamed object differs"
s3 rm --only-show-errors "s3://$BUCKET/dir/stream.bin"

step "sync up, ls --recursive, sync back"
mkdir -p "$work/tree/a/b" "$work/tree/with space" "$work/back"
echo "one" >"$work/tree/one.txt"
echo "two" >"$work/tree/a/two.txt"
head -c 70000 /dev/urandom >"$work/tree/a/b/three.bin"
echo "four" >"$work/tree/with space/four+plus.txt"
: >"$work/tree/a/empty"
s3 sync --only-show-errors "$work/tree" "s3://$BUCKET/tree/"
want=$(cd "$work/tree" && find . -type f | sed 's|^\./|tree/|' | LC_ALL=C sort)
got=$(s3 ls --recursive "s3://$BUCKET/tree/" | awk '{ $1 = $2 = $3 = ""; sub(/^ +/, ""); print }' | LC_ALL=C sort)
[ "$got" = "$want" ] || fail "ls --recursive lists
$got
want
$want"
# A second sync has nothing to do.
[ -z "$(s3 sync "$work/tree" "s3://$BUCKET/tree/")" ] || fail "second sync uploaded again"
s3 sync --only-show-errors "s3://$BUCKET/tree/" "$work/back"
diff -r "$work/tree" "$work/back" || fail "synced-back tree differs"

step "presign + curl"
url=$(s3 presign "s3://$BUCKET/tree/a/b/three.bin" --expires-in 300)
curl -fsS "$url" -o "$work/presigned.bin" || fail "curl of the presigned URL failed"
cmp "$work/tree/a/b/three.bin" "$work/presigned.bin" || fail "presigned download differs"
code=$(curl -s -o /dev/null -w '%{http_code}' "${url/X-Amz-Signature=/X-Amz-Signature=00}")
[ "$code" = 403 ] || [ "$code" = 400 ] || fail "tampered presigned URL answered $code"

step "rm"
s3 rm --only-show-errors "s3://$BUCKET/dir/big.bin"
s3 rm --only-show-errors --recursive "s3://$BUCKET/tree/"
left=$(s3 ls --recursive "s3://$BUCKET" || true)
[ -z "$left" ] || fail "objects left after rm: $left"

step "rb"
s3 rb "s3://$BUCKET" >/dev/null
listing=$(s3 ls); if grep -q " $BUCKET\$" <<<"$listing"; then fail "bucket still listed after rb"; fi
if s3api head-bucket --bucket "$BUCKET" >/dev/null 2>&1; then fail "head-bucket succeeds after rb"; fi

echo "e2e-s3 PASS"

#!/usr/bin/env bash
# Versions, tags and exact metadata end to end with unmodified clients (the AWS CLI and boto3)
# against a local NebulaIO server (no Docker):
#
#   scripts/e2e-versioning.sh     # builds the server unless NEBULAIO_BIN names one
#
# AWS CLI: versioned put, overwrite, delete (a marker), restore by copying an old version,
# permanent delete of a version; `aws s3 cp` of a 40 MiB object between buckets (a multipart
# copy); `aws s3 sync` between buckets; tags and metadata round trips with their exact case.
# boto3 (scripts/e2e_versioning.py): raw response headers for metadata case, Expires and
# Content-Encoding; ListObjectVersions paging over 2,500 versions of 50 keys with the boto3
# paginator; delete markers in the listing. Exit status: non-zero if any check fails.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
. scripts/local-server.sh
e2e_init e2e-versioning
step() { echo "== $*"; }

command -v aws >/dev/null || fail "the aws CLI is not installed (apt-get install -y awscli)"
"$PYTHON" -c 'import boto3' 2>/dev/null || fail "boto3 is not installed for $PYTHON (apt-get install -y python3-boto3)"

bin=${NEBULAIO_BIN:-}
if [ -z "$bin" ]; then
	step "building the server"
	go build -o "$work/nebulaio" ./cmd/nebulaio
	bin=$work/nebulaio
fi
export NEBULAIO_ACCESS_KEY=E2EVERSIONS$$ NEBULAIO_SECRET_KEY=e2e-versions-secret-$$-$RANDOM
start_local_server "$work" "$bin"
export S3_ENDPOINT=http://$S3_ADDR AWS_ACCESS_KEY_ID=$NEBULAIO_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$NEBULAIO_SECRET_KEY
export AWS_DEFAULT_REGION=us-east-1 AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=$work/aws-config
printf '[default]\ns3 =\n    signature_version = s3v4\n    addressing_style = path\n' >"$AWS_CONFIG_FILE"
s3() { aws --endpoint-url "$S3_ENDPOINT" s3 "$@"; }
s3api() { aws --endpoint-url "$S3_ENDPOINT" s3api "$@"; }
aws --version

step "versioned put, overwrite, delete, restore by copy (AWS CLI)"
s3api create-bucket --bucket ver >/dev/null
[ "$(s3api get-bucket-versioning --bucket ver --output text)" = "" ] || fail "a new bucket reports versioning"
s3api put-bucket-versioning --bucket ver --versioning-configuration Status=Enabled
[ "$(s3api get-bucket-versioning --bucket ver --query Status --output text)" = Enabled ] || fail "versioning not Enabled"
echo "first version" >"$work/one"
echo "second version" >"$work/two"
v1=$(s3api put-object --bucket ver --key doc.txt --body "$work/one" --query VersionId --output text)
v2=$(s3api put-object --bucket ver --key doc.txt --body "$work/two" --query VersionId --output text)
[ -n "$v1" ] && [ "$v1" != None ] && [ "$v1" != "$v2" ] || fail "version ids $v1 and $v2"
s3api get-object --bucket ver --key doc.txt --version-id "$v1" "$work/got" >/dev/null
cmp -s "$work/one" "$work/got" || fail "GET of version $v1 is not the first version"
s3api get-object --bucket ver --key doc.txt "$work/got" >/dev/null
cmp -s "$work/two" "$work/got" || fail "the current version is not the second"
marker=$(s3api delete-object --bucket ver --key doc.txt --query VersionId --output text)
[ "$(s3api list-object-versions --bucket ver --query 'DeleteMarkers[0].IsLatest' --output text)" = True ] || fail "no latest delete marker"
if s3api head-object --bucket ver --key doc.txt >/dev/null 2>&1; then fail "HEAD of a deleted key succeeded"; fi
s3api get-object --bucket ver --key doc.txt --version-id "$v2" "$work/got" >/dev/null || fail "GET of v2 behind the marker"
s3api copy-object --bucket ver --key doc.txt --copy-source "ver/doc.txt?versionId=$v1" >"$work/copy.json"
grep -q "\"CopySourceVersionId\": \"$v1\"" "$work/copy.json" || fail "copy-object did not report the source version: $(cat "$work/copy.json")"
s3api get-object --bucket ver --key doc.txt "$work/got" >/dev/null
cmp -s "$work/one" "$work/got" || fail "restore by copy did not bring the first version back"
n=$(s3api list-object-versions --bucket ver --query 'length(Versions)' --output text)
[ "$n" = 3 ] || fail "$n versions after restore, want 3 (v1, v2, restored)"
s3api delete-object --bucket ver --key doc.txt --version-id "$marker" >/dev/null
[ "$(s3api list-object-versions --bucket ver --query 'length(DeleteMarkers || `[]`)' --output text)" = 0 ] || fail "marker not removed"
s3api delete-object --bucket ver --key doc.txt --version-id "$v2" >/dev/null
if s3api get-object --bucket ver --key doc.txt --version-id "$v2" "$work/got" >/dev/null 2>&1; then fail "v2 still readable after its delete"; fi
echo "   ok: versions $v1 $v2, marker $marker, restore by copy"

step "aws s3 cp of a 40 MiB object between buckets"
s3 mb s3://cp-src >/dev/null
s3 mb s3://cp-dst >/dev/null
head -c $((40 << 20)) /dev/urandom >"$work/big"
s3 cp --only-show-errors "$work/big" s3://cp-src/big
s3api put-object-tagging --bucket cp-src --key big --tagging 'TagSet=[{Key=origin,Value=e2e}]'
s3 cp --only-show-errors s3://cp-src/big s3://cp-dst/big
s3 cp --only-show-errors s3://cp-dst/big "$work/big.back"
cmp -s "$work/big" "$work/big.back" || fail "40 MiB copy between buckets differs"
s3 mv --only-show-errors s3://cp-dst/big s3://cp-src/moved
s3 cp --only-show-errors s3://cp-src/moved "$work/big.back"
cmp -s "$work/big" "$work/big.back" || fail "40 MiB mv between buckets differs"
echo "   ok"

step "aws s3 sync between buckets"
mkdir -p "$work/tree/sub/deeper" "$work/tree.back"
for i in $(seq 1 25); do head -c $((i * 1000)) /dev/urandom >"$work/tree/f$i.bin"; done
for i in 1 2 3; do echo "nested $i" >"$work/tree/sub/deeper/n$i.txt"; done
s3 sync --only-show-errors "$work/tree" s3://cp-src/tree
s3 sync --only-show-errors s3://cp-src/tree s3://cp-dst/tree
s3 sync --only-show-errors s3://cp-dst/tree "$work/tree.back"
diff -r "$work/tree" "$work/tree.back" >/dev/null || fail "sync between buckets: trees differ"
echo changed >"$work/tree/f1.bin"
s3 sync --only-show-errors "$work/tree" s3://cp-src/tree
out=$(s3 sync s3://cp-src/tree s3://cp-dst/tree)
[ "$(grep -c copy: <<<"$out")" = 1 ] || fail "second sync copied: $out"
echo "   ok"

step "tags and metadata round trips (AWS CLI)"
s3api put-object --bucket ver --key meta.txt --body "$work/one" --metadata 'Color=blue,camelKey=Mixed Value' \
	--tagging 'Team=Storage&env=e2e' --content-encoding 'deflate, gzip' --content-language de-CH \
	--content-disposition 'attachment; filename="x y.txt"' --cache-control 'max-age=60' >/dev/null
s3api head-object --bucket ver --key meta.txt >"$work/head.json"
for want in '"color": "blue"' '"camelkey": "Mixed Value"' '"ContentEncoding": "deflate, gzip"' '"ContentLanguage": "de-CH"' \
	'"ContentDisposition": "attachment; filename=\"x y.txt\""' '"CacheControl": "max-age=60"'; do
	grep -qF "$want" "$work/head.json" || fail "head-object lacks $want: $(cat "$work/head.json")"
done
tags=$(s3api get-object-tagging --bucket ver --key meta.txt --query 'TagSet[].[Key,Value]' --output text | tr '\t\n' '= ')
[ "$tags" = "Team=Storage env=e2e " ] || fail "tags $tags"
s3api put-bucket-tagging --bucket ver --tagging 'TagSet=[{Key=Project,Value=NebulaIO}]'
[ "$(s3api get-bucket-tagging --bucket ver --query 'TagSet[0].Value' --output text)" = NebulaIO ] || fail "bucket tags"
s3api copy-object --bucket ver --key meta-copy.txt --copy-source ver/meta.txt >/dev/null
s3api head-object --bucket ver --key meta-copy.txt >"$work/head2.json"
grep -qF '"camelkey": "Mixed Value"' "$work/head2.json" || fail "copy lost metadata: $(cat "$work/head2.json")"
[ "$(s3api get-object-tagging --bucket ver --key meta-copy.txt --query 'length(TagSet)' --output text)" = 2 ] || fail "copy lost tags"
echo "   ok"

step "boto3: raw headers, 2,500 versions of 50 keys paged, delete markers"
"$PYTHON" scripts/e2e_versioning.py || fail "boto3 checks"
kill -0 "$SERVER_PID" 2>/dev/null || fail "the server died during the run"
echo "e2e-versioning PASSED"

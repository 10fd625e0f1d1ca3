#!/usr/bin/env bash
# Users, keys and policies end to end with unmodified clients against a local NebulaIO server
# (no Docker):
#
#   scripts/e2e-iam.sh     # builds the server unless NEBULAIO_BIN names one
#
# - `nebulaio admin`: a policy from a file, a user created with it (keys printed once), listed
#   without its secret;
# - the AWS CLI with that user's key: read and write in bucket-a, AccessDenied on bucket-b;
#   rotation (the old secret refused), disable (InvalidAccessKeyId);
# - bucket policies with the AWS CLI (put, get, get-policy-status, delete) and the public
#   access block; anonymous curl GETs refused, allowed under a public policy, refused again
#   under RestrictPublicBuckets; a canned ACL public-read with put-bucket-acl;
# - wrong signatures (curl --aws-sigv4) from one address throttled with 503 SlowDown, counted
#   in /metrics;
# - the server's log and a restart's banner hold none of the secrets.
# Exit status: non-zero if any check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

. scripts/local-server.sh
e2e_init e2e-iam
step() { echo "== $*"; }

command -v aws >/dev/null || fail "the aws CLI is not installed (apt-get install -y awscli)"
command -v curl >/dev/null || fail "curl is not installed"

bin=${NEBULAIO_BIN:-}
if [ -z "$bin" ]; then
	step "building the server"
	go build -o "$work/nebulaio" ./cmd/nebulaio
	bin=$work/nebulaio
fi
case $bin in /*) ;; *) bin=$root/$bin ;; esac
export NEBULAIO_ACCESS_KEY=E2EIAMROOT$$ NEBULAIO_SECRET_KEY=e2e-iam-root-secret-$$-$RANDOM
export NEBULAIO_ADMIN_TOKEN=e2e-iam-admin-token-$$-$RANDOM
start_local_server "$work" "$bin"
export AWS_ENDPOINT_URL=http://$S3_ADDR AWS_DEFAULT_REGION=us-east-1
export AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=$work/aws-config
printf '[default]\ns3 =\n    signature_version = s3v4\n    addressing_style = path\n' >"$AWS_CONFIG_FILE"
root_aws() { AWS_ACCESS_KEY_ID=$NEBULAIO_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$NEBULAIO_SECRET_KEY aws "$@"; }
admin() { "$bin" admin --admin "http://$ADMIN_ADDR" "$@"; }
echo "x" >"$work/file"

step "buckets and a policy limited to bucket-a"
root_aws s3api create-bucket --bucket bucket-a >/dev/null
root_aws s3api create-bucket --bucket bucket-b >/dev/null
root_aws s3api put-object --bucket bucket-b --key k --body "$work/file" >/dev/null
cat >"$work/only-a.json" <<'JSON'
{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Action": ["s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
  "Resource": ["arn:aws:s3:::bucket-a", "arn:aws:s3:::bucket-a/*"]}]}
JSON
admin policy put only-a "$work/only-a.json" >/dev/null
out=$(admin user create app --policy only-a)
AK=$(sed -n 's/^AccessKey: //p' <<<"$out")
SK=$(sed -n 's/^SecretKey: //p' <<<"$out")
[ -n "$AK" ] && [ -n "$SK" ] || fail "user create printed no keys: $out"
admin user list | grep -q "$AK" || fail "user list lacks the access key"
if admin user list | grep -q -- "$SK" || admin key list | grep -q -- "$SK"; then fail "a listing shows the secret key"; fi
app_aws() { AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK aws "$@"; }

step "the application key: bucket-a yes, bucket-b no"
app_aws s3 cp "$work/file" s3://bucket-a/k >/dev/null || fail "app could not write bucket-a"
app_aws s3 ls s3://bucket-a/ | grep -q ' k$' || fail "app could not list bucket-a"
for cmd in "s3api get-object --bucket bucket-b --key k $work/out" "s3api put-object --bucket bucket-b --key k2 --body $work/file" \
	"s3api list-objects-v2 --bucket bucket-b" "s3api delete-object --bucket bucket-b --key k" "s3api delete-bucket --bucket bucket-b" \
	"s3api get-bucket-policy --bucket bucket-b" "s3api create-bucket --bucket bucket-c" "s3api list-buckets"; do
	# shellcheck disable=SC2086
	if err=$(app_aws $cmd 2>&1); then fail "app ran '$cmd' on bucket-b: $err"; fi
	grep -q AccessDenied <<<"$err" || fail "'$cmd' was not AccessDenied: $err"
done
root_aws s3api head-object --bucket bucket-b --key k >/dev/null || fail "bucket-b/k is gone"

step "rotation and disable"
out=$(admin key rotate app)
SK2=$(sed -n 's/^SecretKey: //p' <<<"$out")
[ -n "$SK2" ] && [ "$SK2" != "$SK" ] || fail "key rotate printed no new secret: $out"
err=$(app_aws s3api list-objects-v2 --bucket bucket-a 2>&1) && fail "the old secret still works"
grep -q SignatureDoesNotMatch <<<"$err" || fail "old secret: $err"
SK=$SK2
app_aws s3api list-objects-v2 --bucket bucket-a >/dev/null || fail "the new secret does not work"
admin user disable app >/dev/null
err=$(app_aws s3api list-objects-v2 --bucket bucket-a 2>&1) && fail "a disabled key still works"
grep -q InvalidAccessKeyId <<<"$err" || fail "disabled: $err"
admin user enable app >/dev/null

step "bucket policies, the public access block and anonymous requests"
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code "http://$S3_ADDR/bucket-a/k")" = 403 ] || fail "anonymous GET allowed without a policy"
cat >"$work/public.json" <<'JSON'
{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
  "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket-a/*"}]}
JSON
err=$(root_aws s3api put-bucket-policy --bucket bucket-a --policy "file://$work/public.json" 2>&1) && fail "a public policy passed the default public access block"
grep -q AccessDenied <<<"$err" || fail "public policy under the block: $err"
root_aws s3api delete-public-access-block --bucket bucket-a
root_aws s3api put-bucket-policy --bucket bucket-a --policy "file://$work/public.json"
root_aws s3api get-bucket-policy --bucket bucket-a --query Policy --output text | grep -q '"Principal": "\*"' || fail "get-bucket-policy"
[ "$(root_aws s3api get-bucket-policy-status --bucket bucket-a --query PolicyStatus.IsPublic --output text)" = True ] || fail "policy status not public"
[ "$(code "http://$S3_ADDR/bucket-a/k")" = 200 ] || fail "anonymous GET refused under a public policy"
[ "$(code -X PUT --data-binary x "http://$S3_ADDR/bucket-a/anon")" = 403 ] || fail "anonymous PUT allowed under a read policy"
[ "$(code "http://$S3_ADDR/bucket-b/k")" = 403 ] || fail "anonymous GET of bucket-b allowed"
root_aws s3api put-public-access-block --bucket bucket-a --public-access-block-configuration RestrictPublicBuckets=true
[ "$(code "http://$S3_ADDR/bucket-a/k")" = 403 ] || fail "anonymous GET allowed under RestrictPublicBuckets"
root_aws s3api delete-bucket-policy --bucket bucket-a
root_aws s3api delete-public-access-block --bucket bucket-a
root_aws s3api put-bucket-acl --bucket bucket-a --acl public-read
root_aws s3api get-bucket-acl --bucket bucket-a | grep -q AllUsers || fail "get-bucket-acl lacks AllUsers"
[ "$(code "http://$S3_ADDR/bucket-a/k")" = 200 ] || fail "anonymous GET refused under public-read"
[ "$(code "http://$S3_ADDR/bucket-a")" = 200 ] || fail "anonymous list refused under public-read"

step "wrong signatures are throttled and counted"
throttled=
# curl signs with SigV4 itself (--aws-sigv4), fast enough to outrun the refill (1 a second).
for _ in $(seq 1 60); do
	c=$(code --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AK:wrong-secret-key" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "http://$S3_ADDR/bucket-a/k")
	if [ "$c" = 503 ]; then throttled=1 && break; fi
	[ "$c" = 403 ] || fail "a wrong signature answered $c"
done
[ -n "$throttled" ] || fail "60 wrong signatures were never throttled"
metrics=$(curl -fsS "http://$ADMIN_ADDR/metrics")
grep -q '^nebulaio_s3_auth_failures_total [1-9]' <<<"$metrics" || fail "no auth failures counted"
grep -q '^nebulaio_s3_auth_throttled_total [1-9]' <<<"$metrics" || fail "no throttling counted"

step "no secret in the log or a restart's banner"
stop_local_server
cp "$work/server.log" "$work/server-1.log"
start_local_server "$work" "$bin"
export AWS_ENDPOINT_URL=http://$S3_ADDR # new OS-chosen ports
for s in "$SK" "$SK2" "$NEBULAIO_SECRET_KEY" "$NEBULAIO_ADMIN_TOKEN"; do
	if grep -qF -- "$s" "$work/server-1.log" "$work/server.log" "$work/banner"; then fail "a secret is in the log or banner"; fi
done
grep -q 'SecretKey:  (from the configuration' "$work/banner" || fail "the banner does not name the secret's origin: $(cat "$work/banner")"
AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK aws s3api get-object --bucket bucket-a --key k "$work/out" >/dev/null || fail "the user does not survive a restart"

echo "e2e-iam: OK"

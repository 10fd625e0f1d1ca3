#!/usr/bin/env bash
# Object lock, lifecycle configuration, CORS and browser uploads end to end with unmodified
# clients against a local NebulaIO server (no Docker):
#
#   scripts/e2e-governance.sh     # builds the server unless NEBULAIO_BIN names one
#
# - every shell block of docs/guides/object-lock-backups.md (but the first, which only points
#   the CLI at a server), run as written with the AWS CLI, then the state it must leave checked;
# - object lock refusals the guide does not show (COMPLIANCE and bypass, legal hold and bypass,
#   suspending versioning) and lifecycle configuration errors, with the AWS CLI;
# - CORS: rules set with the AWS CLI, preflight OPTIONS requests sent with curl (allowed,
#   refused, wildcard origin) and the CORS headers of an actual GET;
# - a browser form upload from headless Chromium (Debian's chromium): an HTML page holding a
#   form whose SigV4 POST policy boto3 signs posts a file to a bucket; the object is read back
#   with the AWS CLI, and a form whose policy has expired is refused.
# Exit status: non-zero if any check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

PYTHON=${PYTHON:-python3}
CHROMIUM=${CHROMIUM:-chromium}
. scripts/local-server.sh
e2e_init e2e-governance
step() { echo "== $*"; }

command -v aws >/dev/null || fail "the aws CLI is not installed (apt-get install -y awscli)"
command -v curl >/dev/null || fail "curl is not installed"
"$PYTHON" -c 'import boto3' 2>/dev/null || fail "boto3 is not installed for $PYTHON (apt-get install -y python3-boto3)"
command -v "$CHROMIUM" >/dev/null || fail "$CHROMIUM is not installed (apt-get install -y chromium)"

bin=${NEBULAIO_BIN:-}
if [ -z "$bin" ]; then
	step "building the server"
	go build -o "$work/nebulaio" ./cmd/nebulaio
	bin=$work/nebulaio
fi
case $bin in /*) ;; *) bin=$root/$bin ;; esac
export NEBULAIO_ACCESS_KEY=E2EGOVERN$$ NEBULAIO_SECRET_KEY=e2e-governance-secret-$$-$RANDOM
start_local_server "$work" "$bin"
export S3_ENDPOINT=http://$S3_ADDR AWS_ENDPOINT_URL=http://$S3_ADDR
export AWS_ACCESS_KEY_ID=$NEBULAIO_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$NEBULAIO_SECRET_KEY
export AWS_DEFAULT_REGION=us-east-1 AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=$work/aws-config
printf '[default]\ns3 =\n    signature_version = s3v4\n    addressing_style = path\n' >"$AWS_CONFIG_FILE"
aws --version

step "the object lock guide, block by block (docs/guides/object-lock-backups.md)"
mkdir -p "$work/guide"
awk '/^```sh$/ {n++; keep = (n > 1); next} /^```$/ {keep = 0; next} keep' docs/guides/object-lock-backups.md >"$work/guide/commands.sh"
[ "$(grep -c '^aws ' "$work/guide/commands.sh")" -ge 15 ] || fail "the guide's commands were not extracted: $(cat "$work/guide/commands.sh")"
(cd "$work/guide" && bash -euo pipefail commands.sh) >"$work/guide/out.log" 2>&1 || {
	cat "$work/guide/out.log" >&2
	fail "a command of the guide failed"
}
log=$work/guide/out.log
grep -q 'AccessDenied' "$log" || fail "deleting the locked version was not refused with AccessDenied: $(cat "$log")"
grep -q 'refused: the version is locked' "$log" || fail "the guide's refused delete did not fail"
grep -q 'restored intact' "$log" || fail "the locked version was not restored intact"
grep -q 'refused without the bypass' "$log" || fail "a GOVERNANCE version was deleted without the bypass"
grep -q 'expiry-date=".*", rule-id="expire-old-dumps"' "$log" || fail "head-object did not report x-amz-expiration: $(tail -3 "$log")"
s3api() { aws s3api "$@"; }
v=$(s3api list-object-versions --bucket backups --prefix db/2025-06-01.dump --query 'Versions[0].VersionId' --output text)
[ "$(s3api get-object-legal-hold --bucket backups --key db/2025-06-01.dump --version-id "$v" --query LegalHold.Status --output text)" = ON ] ||
	fail "the legal hold is not ON"
[ "$(s3api get-object-retention --bucket backups --key db/2025-06-01.dump --version-id "$v" --query Retention.Mode --output text)" = COMPLIANCE ] ||
	fail "the retention is not COMPLIANCE"
[ "$(s3api list-object-versions --bucket backups --prefix scratch/ --query 'length(Versions || `[]`)' --output text)" = 0 ] ||
	fail "the GOVERNANCE scratch version survived its bypass delete"
echo "   ok: $(grep -c '^aws ' "$work/guide/commands.sh") guide commands"

step "object lock refusals with the AWS CLI"
expect_error() { # expect_error CODE CMD...: the command fails with S3 error CODE
	local code=$1 out
	shift
	if out=$("$@" 2>&1); then fail "$* succeeded; want $code"; fi
	grep -q "($code)" <<<"$out" || fail "$*: $out; want $code"
}
expect_error AccessDenied s3api delete-object --bucket backups --key db/2025-06-01.dump --version-id "$v" --bypass-governance-retention
expect_error AccessDenied s3api put-object-retention --bucket backups --key db/2025-06-01.dump --version-id "$v" \
	--retention "Mode=GOVERNANCE,RetainUntilDate=$(date -u -d '+2 years' +%Y-%m-%dT%H:%M:%SZ)" --bypass-governance-retention
expect_error InvalidBucketState s3api put-bucket-versioning --bucket backups --versioning-configuration Status=Suspended
s3api create-bucket --bucket plain >/dev/null
expect_error InvalidRequest s3api put-object --bucket plain --key k --body "$work/guide/db.dump" --object-lock-legal-hold-status ON
expect_error ObjectLockConfigurationNotFoundError s3api get-object-lock-configuration --bucket plain
expect_error InvalidBucketState s3api put-object-lock-configuration --bucket plain --object-lock-configuration ObjectLockEnabled=Enabled
expect_error NotImplemented s3api put-bucket-lifecycle-configuration --bucket plain --lifecycle-configuration \
	'{"Rules": [{"ID": "t", "Status": "Enabled", "Filter": {"Prefix": ""}, "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}]}]}'
expect_error InvalidArgument s3api put-bucket-lifecycle-configuration --bucket plain --lifecycle-configuration \
	'{"Rules": [{"ID": "t", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 0}}]}'
expect_error NoSuchLifecycleConfiguration s3api get-bucket-lifecycle-configuration --bucket plain
echo "   ok"

step "CORS: rules with the AWS CLI, preflights with curl"
s3api create-bucket --bucket web >/dev/null
s3api put-bucket-cors --bucket web --cors-configuration '{"CORSRules": [
	{"AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["GET", "PUT"], "AllowedHeaders": ["content-type", "x-amz-*"],
	 "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600},
	{"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]}]}'
[ "$(s3api get-bucket-cors --bucket web --query 'CORSRules[0].MaxAgeSeconds' --output text)" = 600 ] || fail "get-bucket-cors"
echo page >"$work/page.html"
aws s3 cp --quiet "$work/page.html" s3://web/page.html
preflight() { # preflight ORIGIN METHOD [HEADERS]: status line and headers of an unsigned OPTIONS
	curl -sS -o /dev/null -D - -X OPTIONS -H "Origin: $1" -H "Access-Control-Request-Method: $2" \
		${3:+-H "Access-Control-Request-Headers: $3"} "$S3_ENDPOINT/web/page.html" | tr -d '\r'
}
h=$(preflight https://app.example.com PUT "Content-Type, X-Amz-Meta-Owner")
grep -q '^HTTP/1.1 200' <<<"$h" || fail "allowed preflight: $h"
grep -qi '^Access-Control-Allow-Origin: https://app.example.com$' <<<"$h" || fail "allowed preflight origin: $h"
grep -qi '^Access-Control-Allow-Methods: GET, PUT$' <<<"$h" || fail "allowed preflight methods: $h"
grep -qi '^Access-Control-Allow-Headers: content-type, x-amz-meta-owner$' <<<"$h" || fail "allowed preflight headers: $h"
grep -qi '^Access-Control-Max-Age: 600$' <<<"$h" || fail "allowed preflight max age: $h"
h=$(preflight http://anywhere.test HEAD)
grep -q '^HTTP/1.1 200' <<<"$h" && grep -qi '^Access-Control-Allow-Origin: \*$' <<<"$h" || fail "wildcard origin: $h"
for refused in "https://evil.test PUT" "https://app.example.com DELETE" "https://app.example.com PUT authorization"; do
	read -r o m hd <<<"$refused"
	h=$(preflight "$o" "$m" "$hd")
	grep -q '^HTTP/1.1 403' <<<"$h" || fail "preflight $refused not refused: $h"
	! grep -qi '^Access-Control-Allow-Origin' <<<"$h" || fail "refused preflight $refused allows an origin: $h"
done
h=$(aws s3 presign s3://web/page.html --expires-in 60 | xargs curl -sS -o /dev/null -D - -H 'Origin: https://app.example.com' | tr -d '\r')
grep -q '^HTTP/1.1 200' <<<"$h" && grep -qi '^Access-Control-Expose-Headers: ETag$' <<<"$h" || fail "actual GET with an Origin: $h"
echo "   ok"

step "a browser form upload from headless Chromium"
s3api create-bucket --bucket forms >/dev/null
export FILE_TEXT="uploaded by a real browser $$ $RANDOM"
"$PYTHON" scripts/e2e_post_form.py forms "$work/form.html"
browse() { # browse PAGE: let Chromium load PAGE, run its script, follow the form post; print the final DOM
	timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$work/chromium" \
		--virtual-time-budget=15000 --dump-dom "file://$1" 2>>"$work/chromium.log"
}
dom=$(browse "$work/form.html") || fail "chromium failed: $(tail -5 "$work/chromium.log")"
grep -q 'uploads/hello-browser.txt' <<<"$dom" || fail "the browser did not get S3's PostResponse: $dom"
s3api get-object --bucket forms --key uploads/hello-browser.txt "$work/got.txt" >"$work/head.json"
[ "$(cat "$work/got.txt")" = "$FILE_TEXT" ] || fail "the uploaded object holds $(cat "$work/got.txt")"
grep -q '"ContentType": "text/plain"' "$work/head.json" && grep -q '"origin": "browser"' "$work/head.json" ||
	fail "the uploaded object's metadata: $(cat "$work/head.json")"
# A form whose policy expired is refused with S3's answer, and stores nothing.
FILE_TEXT="too late" "$PYTHON" scripts/e2e_post_form.py forms "$work/expired.html" -60
sed -i 's/hello-browser.txt/late.txt/' "$work/expired.html"
dom=$(browse "$work/expired.html") || fail "chromium failed: $(tail -5 "$work/chromium.log")"
grep -q 'AccessDenied' <<<"$dom" && grep -q 'Policy expired' <<<"$dom" || fail "an expired policy was not refused: $dom"
[ "$(s3api list-objects-v2 --bucket forms --query 'length(Contents)' --output text)" = 1 ] || fail "a refused form stored an object"
echo "   ok: $(wc -c <"$work/got.txt") bytes through a browser form"

kill -0 "$SERVER_PID" 2>/dev/null || fail "the server died during the run"
echo "e2e-governance PASSED"

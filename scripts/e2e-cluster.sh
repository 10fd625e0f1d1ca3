#!/usr/bin/env bash
# End-to-end test of a three-node cluster in containers (deploy/docker-compose.yml): form the
# cluster, write through one node and read through another, docker kill the leader, expect a new
# leader within 15 s and writes to go on, bring the old leader back and see it rejoin; then
# docker kill a node during an upload loop and check that every acknowledged object is intact;
# then a node of another cluster pointed at this one is refused; then leadership moves to a
# named node, and a demoted node stays a non-voter across its restart and a leader change; last
# (issue 20, the cluster runs cluster.erasure 2+1): inline, replicated and erasure-coded objects
# written through every node survive docker kill (SIGKILL) of the leader and of a follower
# killed while an erasure-coded upload is mid-stripe, and read back byte-exact through every
# node, the erasure-coded ones also while a node is down.
# Needs a Docker engine, docker-compose (or `docker compose`), curl with --aws-sigv4, and the image
# (IMAGE, default nebulaio:dev). Everything it starts is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-nebulaio:dev}
PROJECT=nebulae2e$$
if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose); else COMPOSE=(docker-compose); fi
compose() { "${COMPOSE[@]}" -p "$PROJECT" -f deploy/docker-compose.yml "$@"; }

export IMAGE
export NEBULAIO_ERASURE=2+1 # deploy/docker-compose.yml: cluster.erasure on every node
export NEBULAIO_ACCESS_KEY=E2EACCESSKEY$$
export NEBULAIO_SECRET_KEY=e2e-secret-$$-$RANDOM$RANDOM
export NEBULAIO_ADMIN_TOKEN=e2e-token-$$-$RANDOM$RANDOM
NEBULAIO_JOIN_TOKEN=$(docker run --rm "$IMAGE" cluster new-token)
export NEBULAIO_JOIN_TOKEN

# Free host ports on 127.0.0.1 for each node's S3 and admin listeners.
read -r N1_S3 N1_ADMIN N2_S3 N2_ADMIN N3_S3 N3_ADMIN < <(python3 -c '
import socket
socks=[socket.socket() for _ in range(6)]
for s in socks: s.bind(("127.0.0.1",0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')
export N1_S3 N1_ADMIN N2_S3 N2_ADMIN N3_S3 N3_ADMIN
declare -A ADMIN=([nebula1]=$N1_ADMIN [nebula2]=$N2_ADMIN [nebula3]=$N3_ADMIN)
declare -A S3=([nebula1]=$N1_S3 [nebula2]=$N2_S3 [nebula3]=$N3_S3)

cleanup() {
	docker rm -f -v "$PROJECT-foreign" >/dev/null 2>&1 || true
	rm -rf "/tmp/$PROJECT.dur"
	if [ "${KEEP:-}" != 1 ]; then compose down -v --remove-orphans >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
fail() { echo "e2e-cluster FAIL: $*" >&2; compose logs --tail=60 >&2 || true; exit 1; }

admin() { # admin NODE PATH
	curl -fsS --max-time 5 -H "Authorization: Bearer $NEBULAIO_ADMIN_TOKEN" "http://127.0.0.1:${ADMIN[$1]}$2"
}
s3() { # s3 NODE METHOD PATH [curl args...]
	local node=$1 method=$2 path=$3; shift 3
	curl -fsS --max-time 10 -X "$method" --aws-sigv4 "aws:amz:us-east-1:s3" \
		--user "$NEBULAIO_ACCESS_KEY:$NEBULAIO_SECRET_KEY" \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "http://127.0.0.1:${S3[$node]}$path" "$@"
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# until_ok SECONDS CMD...: poll CMD until it succeeds or the deadline passes.
until_ok() {
	local deadline=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.5
	done
}
healthy_on() { [ "$(admin "$1" /api/v1/admin/cluster/health | json 'd["healthy"] and d["voters"]==3')" = True ]; }
leader_on() { admin "$1" /api/v1/admin/cluster/health | json 'd["leader_id"]'; }

echo "== compose up 3 nodes"
compose up -d >/dev/null
until_ok 90 healthy_on nebula1 || fail "cluster not healthy with 3 voters within 90s"
for n in nebula1 nebula2 nebula3; do until_ok 30 curl -fsS "http://127.0.0.1:${ADMIN[$n]}/health/ready" || fail "$n not ready"; done
echo "   ok: 3 voters, leader $(leader_on nebula1)"

echo "== write through one node, read through another"
until_ok 30 s3 nebula2 PUT /e2e || fail "create bucket"
echo "hello from nebula3" > /tmp/$PROJECT.obj
s3 nebula3 PUT /e2e/greeting --data-binary @/tmp/$PROJECT.obj >/dev/null || fail "PUT through nebula3"
[ "$(s3 nebula1 GET /e2e/greeting)" = "hello from nebula3" ] || fail "GET through nebula1 returned something else"
echo "   ok"

echo "== docker kill the leader"
old=$(leader_on nebula1)
[ -n "$old" ] || fail "no leader"
survivors=(); for n in nebula1 nebula2 nebula3; do [ "$n" = "$old" ] || survivors+=("$n"); done
compose kill "$old" >/dev/null
start=$SECONDS
new_leader() { l=$(leader_on "${survivors[0]}") && [ -n "$l" ] && [ "$l" != "$old" ]; }
until_ok 15 new_leader || fail "no new leader within 15s of killing $old"
echo "   ok: new leader $(leader_on "${survivors[0]}") after $((SECONDS - start))s"
for i in 1 2 3 4 5; do
	s3 "${survivors[$((i % 2))]}" PUT "/e2e/after-kill-$i" --data-binary "value-$i" >/dev/null || fail "write $i after the kill"
done
echo "   ok: writes continue on the survivors"

echo "== bring $old back"
compose start "$old" >/dev/null
rejoined() { [ "$(admin "${survivors[0]}" /api/v1/admin/cluster/nodes | json "[n for n in d['nodes'] if n['id']=='$old'][0]['gossip_status']")" = alive ] && healthy_on "${survivors[0]}"; }
until_ok 60 rejoined || fail "$old did not rejoin within 60s"
until_ok 30 curl -fsS "http://127.0.0.1:${ADMIN[$old]}/health/ready" || fail "$old not ready after rejoining"
[ "$(s3 "$old" GET /e2e/after-kill-5)" = "value-5" ] || fail "$old does not serve a write made while it was down"
count=$(admin nebula1 /api/v1/admin/cluster/nodes | json 'len(d["nodes"])')
[ "$count" = 3 ] || fail "$count nodes listed after the rejoin, want 3 (duplicate?)"
echo "   ok: rejoined, serves the writes it missed, no duplicate"

echo "== docker kill a node during an upload loop: no acknowledged object lost or altered"
acked=/tmp/$PROJECT.acked; stopfile=/tmp/$PROJECT.stop
: >"$acked"; rm -f "$stopfile"
nodes=(nebula1 nebula2 nebula3)
upload_loop() { # PUT objects of 1..512 KiB round-robin; record key and SHA-256 of each 200
	local i=0 f
	while [ ! -e "$stopfile" ]; do
		i=$((i + 1)); f=/tmp/$PROJECT.up.$i
		head -c $(((RANDOM % 512 + 1) * 1024)) /dev/urandom >"$f"
		if s3 "${nodes[$((i % 3))]}" PUT "/e2e/loop-$i" --data-binary @"$f" >/dev/null 2>&1; then
			echo "loop-$i $(sha256sum <"$f" | cut -d' ' -f1)" >>"$acked"
		fi
		rm -f "$f"
	done
}
acked_count() { wc -l <"$acked"; }
upload_loop &
loop_pid=$!
at_least() { [ "$(acked_count)" -ge "$1" ]; }
until_ok 60 at_least 15 || fail "the upload loop acknowledged fewer than 15 objects in 60s"
victim=$(leader_on nebula1)
[ -n "$victim" ] || fail "no leader"
compose kill "$victim" >/dev/null
killed_at=$(acked_count)
echo "   killed $victim (the leader) after $killed_at acknowledged uploads"
until_ok 90 at_least $((killed_at + 20)) || { touch "$stopfile"; wait "$loop_pid" || true; fail "fewer than 20 uploads acknowledged in 90s after the kill"; }
touch "$stopfile"
wait "$loop_pid" || true
survivors=(); for n in nebula1 nebula2 nebula3; do [ "$n" = "$victim" ] || survivors+=("$n"); done
total=$(acked_count)
check_all() { # check_all NODE: every acknowledged object, byte-identical
	local key sum got
	while read -r key sum; do
		got=$(s3 "$1" GET "/e2e/$key" | sha256sum | cut -d' ' -f1) || return 1
		[ "$got" = "$sum" ] || { echo "$key through $1: sha256 $got, want $sum" >&2; return 1; }
	done <"$acked"
}
for n in "${survivors[@]}"; do check_all "$n" || fail "an acknowledged object is lost or altered through $n"; done
echo "   ok: all $total acknowledged objects intact through ${survivors[*]}"
compose start "$victim" >/dev/null
until_ok 60 curl -fsS "http://127.0.0.1:${ADMIN[$victim]}/health/ready" || fail "$victim not ready after restart"
check_all "$victim" || fail "an acknowledged object is lost or altered through $victim after its restart"
echo "   ok: and through $victim after its restart"

echo "== a node of another cluster pointed at this one is refused (issue 16)"
cid=$(admin nebula1 /api/v1/admin/cluster/health | json 'd["cluster_id"]')
foreign=$PROJECT-foreign
docker run -d --name "$foreign" --network "${PROJECT}_default" -p 127.0.0.1::9001 \
	-e NEBULAIO_JOIN_TOKEN="$(docker run --rm "$IMAGE" cluster new-token)" "$IMAGE" \
	server --data_dir=/data --node_id=intruder --cluster.advertise_address="$foreign" \
	--cluster.join_addresses=nebula1:9004 >/dev/null || fail "start the foreign node"
fport=$(docker port "$foreign" 9001/tcp | head -1 | sed 's/.*://')
told() { curl -sS --max-time 2 "http://127.0.0.1:$fport/health/ready" | grep -q "$cid"; }
until_ok 60 told || fail "the foreign node's /health/ready does not name cluster $cid"
count=$(admin nebula1 /api/v1/admin/cluster/nodes | json 'len(d["nodes"])')
[ "$count" = 3 ] || fail "$count nodes listed with a foreign node knocking, want 3"
refusals=$(curl -fsS "http://127.0.0.1:${ADMIN[nebula1]}/metrics" | awk '/^nebulaio_cluster_foreign_refused_total /{print $2}')
python3 -c "import sys; sys.exit(0 if float('${refusals:-0}') >= 1 else 1)" || fail "nebula1 counted no foreign refusal"
docker rm -f -v "$foreign" >/dev/null
echo "   ok: refused at gossip, named in its readiness, $refusals refusals counted on nebula1"

echo "== leader transfer to a named node, and a demote that outlives a restart and a leader change (issue 16)"
adminpost() { # adminpost NODE PATH [JSON body]
	curl -fsS --max-time 30 -X POST -H "Authorization: Bearer $NEBULAIO_ADMIN_TOKEN" \
		${3:+-H "Content-Type: application/json" -d "$3"} "http://127.0.0.1:${ADMIN[$1]}$2"
}
lead=$(leader_on nebula1)
[ -n "$lead" ] || fail "no leader"
others=(); for n in nebula1 nebula2 nebula3; do [ "$n" = "$lead" ] || others+=("$n"); done
target=${others[0]} demoted=${others[1]}
got=$(adminpost "$demoted" /api/v1/admin/cluster/leader/transfer "{\"id\":\"$target\"}" | json 'd["leader_id"]') || fail "leader transfer to $target"
[ "$got" = "$target" ] || fail "leader transfer to $target answered leader $got"
leads() { [ "$(leader_on "$1")" = "$2" ]; }
until_ok 15 leads "$lead" "$target" || fail "$lead does not see $target lead"
echo "   ok: leadership moved $lead -> $target"
adminpost "$target" "/api/v1/admin/cluster/nodes/$demoted/demote" >/dev/null || fail "demote $demoted"
suffrage() { admin "$1" /api/v1/admin/cluster/nodes | json "[('voter' if n.get('voter') else 'nonvoter') if n.get('in_raft') else 'absent' for n in d['nodes'] if n['id']=='$2'][0]"; }
nonvoter() { [ "$(suffrage "$1" "$demoted")" = nonvoter ]; }
until_ok 15 nonvoter "$target" || fail "$demoted not demoted"
compose restart "$demoted" >/dev/null # its configuration still asks to vote
adminpost "$target" /api/v1/admin/cluster/leader/transfer >/dev/null || fail "leader transfer to any other voter"
until_ok 60 curl -fsS "http://127.0.0.1:${ADMIN[$demoted]}/health/ready" || fail "$demoted not ready after its restart"
for i in $(seq 1 30); do
	nonvoter "$lead" || fail "$demoted is a voter again $i s after its restart and a leader change"
	sleep 1
done
adminpost "$lead" "/api/v1/admin/cluster/nodes/$demoted/promote" >/dev/null || fail "promote $demoted"
until_ok 30 healthy_on nebula1 || fail "not 3 healthy voters after promoting $demoted back"
echo "   ok: $demoted stayed a non-voter for 30 s across its restart and a leader change; promoted back"

echo "== issue 20: acknowledged inline, replicated and erasure-coded objects survive kill -9 of any one node"
# Objects of every kind are written through every node and recorded with their MD5; the leader
# is docker killed (SIGKILL) and writes go on through the survivors; a follower is killed while
# a 24 MiB erasure-coded upload is mid-stripe; every acknowledged object is then read back
# byte-exact through every node, the erasure-coded ones also while a node is down.
dir=/tmp/$PROJECT.dur; mkdir -p "$dir"; durable=$dir/acked; : >"$durable"
md5() { md5sum | cut -d' ' -f1; }
s3code() { # s3code NODE METHOD PATH: the HTTP status only (000: no answer)
	curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -X "$2" --aws-sigv4 "aws:amz:us-east-1:s3" \
		--user "$NEBULAIO_ACCESS_KEY:$NEBULAIO_SECRET_KEY" \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "http://127.0.0.1:${S3[$1]}$3" || true
}
metric() { # metric NAME NODE...: the sum of a counter over the nodes
	local n sum=0 v
	for n in "${@:2}"; do
		v=$(curl -fsS --max-time 5 "http://127.0.0.1:${ADMIN[$n]}/metrics" | awk -v m="$1" '$1==m || index($1, m"{")==1 {s+=$2} END {printf "%d", s}') || return 1
		sum=$((sum + v))
	done
	echo "$sum"
}
mkobj() { head -c "$2" /dev/urandom >"$dir/$1"; } # mkobj NAME BYTES
put() { # put NODE KEY: PUT $dir/KEY through NODE; record it once acknowledged
	s3 "$1" PUT "/dur/$2" --data-binary @"$dir/$2" >/dev/null || return 1
	echo "$2 $(md5 <"$dir/$2")" >>"$durable"
}
put_retry() { # put_retry NODE KEY: as a client does, retry a refused write (503) up to 30 s
	until_ok 30 put "$1" "$2" || fail "PUT $2 through $1 not acknowledged within 30s"
}
multipart() { # multipart KEY NODE:BYTES...: one part per argument, each through its node, completed through the first
	local key=$1 first=${2%%:*} uid i=0 arg node etag parts="" all=$dir/$1
	shift
	uid=$(s3 "$first" POST "/dur/$key?uploads=" | sed -n 's:.*<UploadId>\(.*\)</UploadId>.*:\1:p') || return 1
	[ -n "$uid" ] || return 1
	: >"$all"
	for arg in "$@"; do
		i=$((i + 1)) node=${arg%%:*}
		mkobj "$key.part$i" "${arg#*:}"
		etag=$(s3 "$node" PUT "/dur/$key?partNumber=$i&uploadId=$uid" --data-binary @"$dir/$key.part$i" -D - -o /dev/null |
			awk 'tolower($1)=="etag:" {print $2}' | tr -d '\r') || return 1
		[ -n "$etag" ] || return 1
		parts+="<Part><PartNumber>$i</PartNumber><ETag>$etag</ETag></Part>"
		cat "$dir/$key.part$i" >>"$all"
	done
	s3 "$first" POST "/dur/$key?uploadId=$uid" --data-binary "<CompleteMultipartUpload>$parts</CompleteMultipartUpload>" |
		grep -q '<CompleteMultipartUploadResult' || return 1
	echo "$key $(md5 <"$all")" >>"$durable"
}
read_all() { # read_all NODE: every acknowledged object through NODE, byte-exact
	local key sum got
	while read -r key sum; do
		got=$(s3 "$1" GET "/dur/$key" | md5) || { echo "GET $key through $1 failed" >&2; return 1; }
		[ "$got" = "$sum" ] || { echo "$key through $1: md5 $got, want $sum" >&2; return 1; }
	done <"$durable"
}
# ec_blobs NODE: the erasure-coded shard files of this section's 3 MiB objects and 5 MiB parts
# in NODE's blob store (docker cp works on a killed container too): "<blob ID> s<i>" lines.
blob_files() { docker cp "$(compose ps -q "$1")":/data/blobs/blobs - | tar -tf -; }
ec_blobs() {
	blob_files "$1" | sed -n 's:.*/\([0-9a-f]\{32\}\.e2p1b64n\(3145728\|5242880\)\)\.\(s[0-9]\)$:\1 \3:p'
}
data_shards_on() { local l; l=$(ec_blobs "$1") || return 1; grep -c ' s[01]$' <<<"$l" || true; } # data shards (s0, s1 of 2+1)
section_start=$SECONDS
nodes=(nebula1 nebula2 nebula3)
for n in "${nodes[@]}"; do until_ok 30 curl -fsS "http://127.0.0.1:${ADMIN[$n]}/health/ready" || fail "$n not ready"; done
until_ok 30 s3 nebula1 PUT /dur || fail "create bucket dur"

echo "   writing with 3 nodes up: inline (1 B, 1 KiB, 64 KiB), replicated (64 KiB+1, 300 KiB), erasure-coded (3 MiB twice, multipart 5+5 MiB + 10 KiB)"
inline0=$(metric nebulaio_s3_inline_writes_total "${nodes[@]}") ec0=$(metric nebulaio_data_erasure_writes_total "${nodes[@]}")
mkobj a-inline-1b 1; mkobj a-inline-1k 1024; mkobj a-inline-64k 65536
mkobj a-repl-64k1 65537; mkobj a-repl-300k 307200; mkobj a-ec-3m 3145728; mkobj a-ec-3m-b 3145728
put nebula1 a-inline-1b || fail "PUT a-inline-1b"
put nebula2 a-inline-1k || fail "PUT a-inline-1k"
put nebula3 a-inline-64k || fail "PUT a-inline-64k"
put nebula1 a-repl-64k1 || fail "PUT a-repl-64k1"
put nebula2 a-repl-300k || fail "PUT a-repl-300k"
put nebula3 a-ec-3m || fail "PUT a-ec-3m"
put nebula1 a-ec-3m-b || fail "PUT a-ec-3m-b"
multipart a-ec-mp nebula2:5242880 nebula3:5242880 nebula1:10240 || fail "multipart upload a-ec-mp (parts through nebula2, nebula3, nebula1)"
inline=$(($(metric nebulaio_s3_inline_writes_total "${nodes[@]}") - inline0))
ec=$(($(metric nebulaio_data_erasure_writes_total "${nodes[@]}") - ec0))
[ "$inline" = 4 ] || fail "$inline inline writes counted, want 4 (three objects up to 64 KiB and the 10 KiB part)"
[ "$ec" = 4 ] || fail "$ec erasure-coded writes counted, want 4 (two 3 MiB objects, two 5 MiB parts)"
shards=$(for n in "${nodes[@]}"; do ec_blobs "$n" | sed "s/\$/ $n/"; done | sort)
placed=$(awk '{ids[$1]++; sh[$1" "$2]++; nd[$1" "$3]++} END {
	for (id in ids) { if (ids[id]!=3 || !sh[id" s0"] || !sh[id" s1"] || !sh[id" s2"]) {print "bad"; exit}
		for (k in nd) if (index(k, id)==1 && nd[k]!=1) {print "bad"; exit} }
	print length(ids) }' <<<"$shards")
[ "$placed" = 4 ] || { echo "$shards" >&2; fail "want 4 erasure-coded blobs, each with shards s0, s1, s2 on three distinct nodes"; }
echo "   ok: $(wc -l <"$durable") objects acknowledged; 4 inline writes, 4 erasure-coded blobs (shards s0-s2 on three nodes)"

# degraded DOWN: read every acknowledged object through the other nodes while DOWN is killed; if
# DOWN held a data shard of an erasure-coded blob, the reads must have reconstructed stripes.
degraded() {
	local down=$1 up=() n r0 r held
	for n in "${nodes[@]}"; do [ "$n" = "$down" ] || up+=("$n"); done
	held=$(data_shards_on "$down") || fail "cannot list the blob store of $down"
	r0=$(metric nebulaio_data_erasure_reconstructions_total "${up[@]}")
	for n in "${up[@]}"; do read_all "$n" || fail "an acknowledged object is lost or altered through $n while $down is down"; done
	r=$(($(metric nebulaio_data_erasure_reconstructions_total "${up[@]}") - r0))
	if [ "$held" -gt 0 ] && [ "$r" -eq 0 ]; then fail "$down held $held data shards, yet reads through ${up[*]} reconstructed no stripe"; fi
	echo "   ok: all $(wc -l <"$durable") acknowledged objects byte-exact through ${up[*]} with $down down (data shards $down held: $held; stripes reconstructed: $r)"
}

old=$(leader_on nebula1)
[ -n "$old" ] || fail "no leader"
survivors=(); for n in "${nodes[@]}"; do [ "$n" = "$old" ] || survivors+=("$n"); done
compose kill "$old" >/dev/null
echo "   killed $old (the leader, SIGKILL)"
until_ok 15 new_leader || fail "no new leader within 15s of killing $old"
echo "   new leader $(leader_on "${survivors[0]}")"
degraded "$old"
fb0=$(metric nebulaio_data_erasure_fallbacks_total "${survivors[@]}")
mkobj b-inline-2k 2048; mkobj b-inline-64k 65536; mkobj b-repl-300k 307200; mkobj b-large-3m 3145728
put_retry "${survivors[0]}" b-inline-2k
put_retry "${survivors[1]}" b-inline-64k
put_retry "${survivors[0]}" b-repl-300k
put_retry "${survivors[1]}" b-large-3m
until_ok 30 multipart b-mp "${survivors[0]}:5242880" "${survivors[1]}:1048576" || fail "multipart upload b-mp with $old down"
fb=$(($(metric nebulaio_data_erasure_fallbacks_total "${survivors[@]}") - fb0))
[ "$fb" -ge 2 ] || fail "$fb erasure fallbacks counted with $old down, want at least 2 (the 3 MiB object, the 5 MiB part)"
echo "   ok: writes go on through ${survivors[*]} (inline, replicated; large ones replicated: $fb erasure fallbacks)"
compose start "$old" >/dev/null
until_ok 60 rejoined || fail "$old did not rejoin within 60s"
until_ok 30 curl -fsS "http://127.0.0.1:${ADMIN[$old]}/health/ready" || fail "$old not ready after its restart"
read_all "$old" || fail "an acknowledged object is lost or altered through $old after its restart"
echo "   ok: $old rejoined and serves every acknowledged object, the ones written while it was down included"

echo "   a node killed while a 24 MiB erasure-coded upload is mid-stripe"
ec_probe() { # an erasure-coded write is possible again (the data plane sees all three nodes)
	local e0 key=c-probe-$((probes += 1)); e0=$(metric nebulaio_data_erasure_writes_total "$1")
	mkobj "$key" 1048576; put "$1" "$key" || return 1
	[ "$(metric nebulaio_data_erasure_writes_total "$1")" -gt "$e0" ]
}
lead=$(leader_on nebula1)
[ -n "$lead" ] || fail "no leader"
others=(); for n in "${nodes[@]}"; do [ "$n" = "$lead" ] || others+=("$n"); done
recv=${others[0]} victim=${others[1]} probes=0
until_ok 60 ec_probe "$recv" || fail "no erasure-coded write through $recv within 60s of $old's restart"
size=$((24 << 20)) sent=$dir/sent go=$dir/go
mkobj c-midstripe "$size"
rm -f "$sent" "$go"
# The body goes through a pipe: its first 8 MiB (64 stripes of 2 x 64 KiB) are sent, then the
# pipe waits for the kill; Content-Length is given, so the upload is one plain PUT.
{ head -c $((8 << 20)) "$dir/c-midstripe"; touch "$sent"; t=0; until [ -e "$go" ] || [ $((t += 1)) -gt 900 ]; do sleep 0.1; done; tail -c +$(((8 << 20) + 1)) "$dir/c-midstripe"; } |
	curl -sS --max-time 120 -o "$dir/c-answer" -w '%{http_code}' -X PUT -T - --aws-sigv4 "aws:amz:us-east-1:s3" \
		--user "$NEBULAIO_ACCESS_KEY:$NEBULAIO_SECRET_KEY" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
		-H "Content-Length: $size" -H "Transfer-Encoding:" "http://127.0.0.1:${S3[$recv]}/dur/c-midstripe" >"$dir/c-code" 2>"$dir/c-err" &
upload_pid=$!
until_ok 60 test -e "$sent" || { touch "$go"; fail "the 24 MiB upload did not send its first 8 MiB within 60s"; }
compose kill "$victim" >/dev/null
touch "$go"
wait "$upload_pid" || true
code=$(cat "$dir/c-code")
echo "   killed $victim (a follower, SIGKILL) with 8 of 24 MiB sent through $recv: HTTP $code $(grep -o '<Code>[^<]*' "$dir/c-answer" 2>/dev/null | cut -c7- || true)"
if [ "${code:0:1}" = 2 ]; then
	echo "c-midstripe $(md5 <"$dir/c-midstripe")" >>"$durable"
	echo "   the upload was acknowledged: it is checked with the others"
else
	for n in "$recv" "$lead"; do
		got=$(s3code "$n" GET /dur/c-midstripe)
		[ "$got" = 404 ] || fail "the failed upload answers $got through $n, want 404 (no partial object)"
	done
	no_partial_shards() { local l; l=$(blob_files "$1") || return 1; ! grep -q "n$size\.s[0-9]\$" <<<"$l"; }
	for n in "$recv" "$lead"; do until_ok 30 no_partial_shards "$n" || fail "$n keeps shards of the failed upload in its blob store"; done
	echo "   ok: the upload failed cleanly (no object, no shard left in the blob stores of $recv, $lead)"
fi
curl -fsS "http://127.0.0.1:${ADMIN[$recv]}/health/ready" >/dev/null || fail "$recv not ready after the failed upload"
degraded "$victim"
compose start "$victim" >/dev/null
until_ok 60 curl -fsS "http://127.0.0.1:${ADMIN[$victim]}/health/ready" || fail "$victim not ready after its restart"
until_ok 60 healthy_on nebula1 || fail "not 3 healthy voters after restarting $victim"
for n in "${nodes[@]}"; do read_all "$n" || fail "an acknowledged object is lost or altered through $n after the restarts"; done
if [ "${code:0:1}" != 2 ]; then
	got=$(s3code "$victim" GET /dur/c-midstripe)
	[ "$got" = 404 ] || fail "the failed upload answers $got through $victim, want 404"
	no_partial_shards "$victim" || fail "$victim keeps a shard of the failed upload in its blob store"
fi
echo "   ok: all $(wc -l <"$durable") acknowledged objects byte-exact through every node (inline ones served by each); section took $((SECONDS - section_start)) s"
rm -rf "$dir"

echo "e2e-cluster PASSED"

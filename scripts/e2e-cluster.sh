#!/usr/bin/env bash
# End-to-end test of a three-node cluster in containers (deploy/docker-compose.yml): form the
# cluster, write through one node and read through another, docker kill the leader, expect a new
# leader within 15 s and writes to go on, bring the old leader back and see it rejoin; then
# docker kill a node during an upload loop and check that every acknowledged object is intact;
# then a node of another cluster pointed at this one is refused; last, leadership moves to a
# named node, and a demoted node stays a non-voter across its restart and a leader change.
# Needs a Docker engine, docker-compose (or `docker compose`), curl with --aws-sigv4, and the image
# (IMAGE, default nebulaio:dev). Everything it starts is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-nebulaio:dev}
PROJECT=nebulae2e$$
if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose); else COMPOSE=(docker-compose); fi
compose() { "${COMPOSE[@]}" -p "$PROJECT" -f deploy/docker-compose.yml "$@"; }

export IMAGE
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

echo "e2e-cluster PASSED"

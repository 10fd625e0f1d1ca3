#!/usr/bin/env bash
# The fault suite (e2e/faults, docs/operations.md ("Guarantees under faults")): for each fault, a fresh three-node cluster of
# real nebulaio processes, each in its own network namespace, under a bounded S3 load; one
# fault; heal; then every check. One table; exit status non-zero if any run fails.
#
#   scripts/faults.sh [-profile full|short] [-faults kill-leader,...] [-keep] [-seed N]
#
# Needs root (network namespaces, iptables inside them, a tmpfs mount), ip (iproute2) and
# iptables. The server is NEBULAIO_BIN (default: built into bin/nebulaio). Runs work in
# FAULTS_WORK (default: a new directory under /tmp); a failed run's directory (node logs,
# history.jsonl, linearizability.html) is kept and named in the output. The program removes
# everything it creates; the trap below sweeps what would be left if it were killed.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
	echo "faults: must run as root (network namespaces, iptables, tmpfs)" >&2
	exit 2
fi
for tool in ip iptables; do
	command -v "$tool" >/dev/null || { echo "faults: $tool is not installed (apt-get install -y iproute2 iptables)" >&2; exit 2; }
done

bin=${NEBULAIO_BIN:-}
if [ -z "$bin" ]; then
	echo "== building the server"
	go build -o bin/nebulaio ./cmd/nebulaio
	bin=bin/nebulaio
fi
echo "== building the fault suite"
go build -o bin/faults ./e2e/faults

work=${FAULTS_WORK:-$(mktemp -d /tmp/nebulaio-faults.XXXXXX)}
prefix=nf$$

cleanup() {
	local ns pid mnt
	for ns in $(ip netns list | awk '{print $1}' | grep "^$prefix-" || true); do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null || true
	done
	ip link del "${prefix}h" 2>/dev/null || true
	for mnt in $(awk -v w="$work/" 'index($2, w) == 1 {print $2}' /proc/mounts); do umount -l "$mnt" 2>/dev/null || true; done
	rmdir "$work" 2>/dev/null || true # only when empty: failed runs keep their directories
}
trap cleanup EXIT

bin/faults -bin "$bin" -work "$work" -prefix "$prefix" "$@"

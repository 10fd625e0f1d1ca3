# NebulaIO — every command a developer or CI needs. Only Go (and, for e2e, a Docker engine) is
# required; modules come from the Go module proxy.

GO        ?= go
FUZZTIME  ?= 10s
# Go minimises every input that finds new coverage for up to -fuzzminimizetime (default 60s),
# executing nothing new meanwhile: FuzzWALRecovery's runs touch files, so it sat at "0 execs/sec"
# for a minute at a time. 5s keeps it fuzzing; a crasher still gets minimised that long.
FUZZMINIMIZE ?= 5s
BENCHTIME ?= 1s
BENCH     ?= .
VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
IMAGE     ?= nebulaio:dev

.PHONY: all build build-static run test bench bench-s3 fuzz lint e2e e2e-clients e2e-versioning e2e-governance e2e-tools e2e-iam e2e-faults e2e-console e2e-cluster faults image clean

all: build

## build: the nebulaio binary in bin/
build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/nebulaio ./cmd/nebulaio

## build-static: a static linux binary for the FROM-scratch image
build-static:
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/nebulaio-linux ./cmd/nebulaio

## run: a single-node server with the embedded defaults and data in ./data
run: build
	./bin/nebulaio server --data_dir=./data

## test: every test that needs only Go, with the race detector; benchmarks are compiled, not run
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...
	cd bench && $(GO) vet ./... && $(GO) test -count=1 -run '^$$' ./... && $(GO) test -count=1 ./s3load
	cd e2e/clients && $(GO) vet ./... && $(GO) build -o /dev/null .

## bench: the benchmarks of bench/ (peers side by side); BENCH=regexp BENCHTIME=1s|100x
bench:
	mkdir -p bin
	cd bench && $(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -benchmem -timeout 60m ./... | tee ../bin/bench.txt

## bench-s3: NebulaIO (1 and 3 nodes, real processes) against MinIO under one S3 load, one table;
## knobs DURATION, ROUNDS, SCENARIOS, SETUPS, PROFILE (see scripts/bench-s3.sh, docs/benchmarks.md)
bench-s3: build
	./scripts/bench-s3.sh

## fuzz: every fuzz target in fuzz/ for FUZZTIME each (the seed corpora also run in make test)
fuzz:
	@targets=$$($(GO) test -list '^Fuzz' ./fuzz/ | grep '^Fuzz' || true); \
	if [ -z "$$targets" ]; then echo "no fuzz targets"; exit 0; fi; \
	for t in $$targets; do \
		echo "== $$t for $(FUZZTIME)"; \
		$(GO) test ./fuzz/ -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) || exit 1; \
	done

## lint: gofmt, go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd bench && $(GO) vet ./...
	cd e2e/clients && $(GO) vet ./...

## image: the FROM-scratch Docker image holding the static binary
image: build-static
	docker build -t $(IMAGE) .

## e2e: the client matrix, the versioning, tools, governance and console checks, end-to-end tests against real containers (needs a Docker engine), then the fault suite's short profile (needs root, iproute2, iptables)
e2e: image
	IMAGE=$(IMAGE) ./scripts/e2e.sh

## e2e-cluster: the three-node compose cluster alone (part of make e2e, 1.5 to 2.5 minutes): kill -9 of the leader and a follower, rejoin, a foreign node refused, leader transfer and demote, then issue 20's durability of inline, replicated and erasure-coded (2+1) objects with a node killed mid-stripe; needs a Docker engine, docker-compose and curl
e2e-cluster: image
	IMAGE=$(IMAGE) ./scripts/e2e-cluster.sh

## e2e-versioning: versions, tags and exact metadata with the AWS CLI and boto3 against a local server
e2e-versioning: build
	NEBULAIO_BIN=bin/nebulaio ./scripts/e2e-versioning.sh

## faults: the fault suite (e2e/faults, docs/operations.md ("Guarantees under faults")): every fault against a fresh 3-node cluster of real processes in network namespaces, one table; needs root, iproute2 and iptables (about 7 minutes); FAULTS=kill-leader,... runs some
faults: build
	NEBULAIO_BIN=bin/nebulaio ./scripts/faults.sh -profile full $(if $(FAULTS),-faults $(FAULTS))

## e2e-faults: the fault suite's short profile (six faults, shorter phases, about 3-4 minutes; part of make e2e)
e2e-faults: build
	NEBULAIO_BIN=bin/nebulaio ./scripts/faults.sh -profile short

## e2e-tools: s3cmd and rclone (buckets, multipart, metadata, copy, sync, versions) against a local server
e2e-tools: build
	NEBULAIO_BIN=bin/nebulaio ./scripts/e2e-tools.sh

## e2e-governance: object lock (the guide's commands), lifecycle configuration, CORS preflights with curl and a headless Chromium form upload against a local server
e2e-governance: build
	NEBULAIO_BIN=bin/nebulaio ./scripts/e2e-governance.sh

## e2e-iam: users, keys and policies (nebulaio admin), bucket policies, public access blocks, anonymous curl, throttled wrong signatures, with the AWS CLI against a local server
e2e-iam: build
	NEBULAIO_BIN=bin/nebulaio ./scripts/e2e-iam.sh

## e2e-console: the console in headless Chromium on a 3-node local cluster: log in, nodes and leader, transfer leadership; screenshot in bin/console.png (UPDATE_DOC_IMAGE=1 also copies it to docs/images/console.png)
e2e-console: build
	NEBULAIO_BIN=bin/nebulaio ./scripts/e2e-console.sh

## e2e-clients: the client matrix only (minio-go, AWS SDK for Go v2, boto3) against a local server
e2e-clients: build
	NEBULAIO_BIN=bin/nebulaio ./scripts/e2e-clients.sh

clean:
	rm -rf bin

# labtrail: `make demo` runs the main job on the built-in demo GitLab,
# `make test` runs every test. Everything else is a convenience.
GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# --exclude-libs keeps the symbols of the static libraries linked in (DuckDB's
# C++ API, ~100,000 of them) out of the binary's dynamic symbol table, which
# Go's external link otherwise fills (-rdynamic) and the dynamic loader then
# reads whole at every start: 6.4 MiB of resident memory in every labtrail
# process, before any work (validate: 80 MiB peak with them, 72 without).
# The cost: DuckDB extensions cannot be loaded at run time (`LOAD httpfs`
# in `labtrail sql`), since they link against those symbols; the ones
# labtrail uses (parquet, json, icu) are built in.
LDFLAGS := -X main.version=$(VERSION) -extldflags "-Wl,--exclude-libs,ALL"

.PHONY: all build test test-short fuzz bench demo clean

# The S3 server the object-storage tests start (internal/s3test): Versity's
# gateway, built from the Go module proxy at the version s3test pins.
VERSITYGW_VERSION := v1.8.0
VERSITYGW := $(CURDIR)/$(BIN)/versitygw-$(VERSITYGW_VERSION)/versitygw

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/labtrail ./cmd/labtrail
	$(GO) build -o $(BIN)/demo-gitlab ./internal/cmd/demo-gitlab

# Every test, then a short fuzz run of decoding and flattening. Minimizing
# each new input is capped: with huge-string inputs it otherwise eats the
# whole run (measured: 1,046 executions in 20 s uncapped, 11,108 in 15 s capped).
test: build $(VERSITYGW)
	$(GO) vet ./...
	LABTRAIL_VERSITYGW=$(VERSITYGW) $(GO) test -count=1 -timeout 30m ./...
	$(GO) test -run '^$$' -fuzz=FuzzDecodeAndFlatten -fuzztime=10s -fuzzminimizetime=50x ./transform

test-short: $(VERSITYGW)
	LABTRAIL_VERSITYGW=$(VERSITYGW) $(GO) test -short -count=1 ./...

$(VERSITYGW):
	GOBIN=$(dir $(VERSITYGW)) GOFLAGS=-mod=mod CGO_ENABLED=0 $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

# Longer fuzzing, for when decoding or flattening changes.
fuzz:
	$(GO) test -run '^$$' -fuzz=FuzzDecodeAndFlatten -fuzztime=2m -fuzzminimizetime=50x ./transform

# Speed and memory targets (issue: "labtrail at full speed"): a full run
# against the built-in server (events/s, requests/s, peak heap); the share
# of the concurrency/latency bound at 50 ms and concurrency 8 and 32, and
# one 200,000-event project against pages x latency / concurrency
# (BenchmarkLatency); plan's estimate against the run's requests
# (BenchmarkPlanEstimate); peak RSS of a labtrail process at 1x and 10x the
# history (BenchmarkPeakRSS) and of sql and compact on 10 million events
# (BenchmarkWarehouse10M); the transform stage; and 100,000 event rows
# written to a local Parquet tree and to an S3 bucket (BenchmarkParquetTree).
bench: build $(VERSITYGW)
	$(GO) test -run '^$$' -bench 'BenchmarkFullRun|BenchmarkActivityCost|BenchmarkLatency|BenchmarkPlanEstimate' -benchtime 1x -timeout 60m ./internal/pipeline
	LABTRAIL_BIN=$(CURDIR)/$(BIN)/labtrail $(GO) test -run '^$$' -bench 'BenchmarkPeakRSS|BenchmarkWarehouse10M' -benchtime 1x -timeout 60m ./cmd/labtrail
	$(GO) test -run '^$$' -bench 'BenchmarkAppendEvents' -benchmem ./transform
	LABTRAIL_VERSITYGW=$(VERSITYGW) $(GO) test -run '^$$' -bench 'BenchmarkParquetTree' -benchtime 3x -timeout 20m ./load

# Runs labtrail end to end against the built-in demo GitLab (no token, no
# network) into ./demo/ and prints answers to a few questions.
demo: build
	./internal/demo/demo.sh

clean:
	rm -rf $(BIN) demo

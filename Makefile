# grid: `make run` builds, writes the built-in demo (tiny model, vocabulary and
# image dataset), runs the demo grid and writes its report; `make test` runs
# every test. See README.md.
GO      ?= go
BIN     := bin/grid
GRID    ?= grid.toml
WORKERS ?= 2

export CGO_ENABLED := 1
# The CPU backend's matmul needs FMA to be fast: GOAMD64=v3 (AVX2, FMA,
# any x86-64 from 2013 on) runs it about 2.5x faster than the v1 default.
# `make GOAMD64=v1 ...` builds for older processors.
export GOAMD64 ?= v3

.PHONY: build run demo test vet bench clean

build:
	$(GO) build -o $(BIN) ./cmd/grid

demo: build
	./$(BIN) demo --dir demo

run: demo
	./$(BIN) run --workers $(WORKERS) $(GRID)
	./$(BIN) report --plot $(GRID)

vet:
	$(GO) vet ./...

test: vet
	$(GO) test -count=1 -timeout 15m ./...

# Benchmarks print ratios against references measured in the same run.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 3x ./...

clean:
	rm -rf bin runs demo

# grid: `make run` builds, writes the built-in demo (tiny model, vocabulary and
# image dataset), runs the demo grid and writes its report; `make test` runs
# every test. See README.md.
GO      ?= go
BIN     := bin/grid
GRID    ?= grid.toml
WORKERS ?= 2

export CGO_ENABLED := 1
# The default build stays GOAMD64=v1: at v3 the compiler may fuse
# multiply-adds in Go code, which changes float rounding, and the Pillow
# transforms must stay pixel-exact. Speed does not need v3: the CPU
# backend's matrix and row kernels are assembly chosen at run time from the
# CPU's features (AVX-512 or AVX2/FMA), so this build is the fast one.

# SQLite: go-sqlite3 compiles SQLite's 9 MB C source (about 90 s of a
# 2-core machine's first build) unless it links the system's library. Where
# pkg-config finds libsqlite3 3.38 or newer (RETURNING, built-in JSON;
# Debian: libsqlite3-dev), every go command here (and the ones tests run)
# links that one; otherwise the bundled copy is compiled. A GOFLAGS of your
# own is left alone.
ifeq ($(origin GOFLAGS),undefined)
ifeq ($(shell pkg-config --atleast-version=3.38 sqlite3 2>/dev/null && echo yes),yes)
export GOFLAGS := -tags=libsqlite3
endif
endif

.PHONY: build run demo test vet bench fuzz clean gpu-check

build:
	$(GO) build -o $(BIN) ./cmd/grid

demo: build
	./$(BIN) demo --dir demo

run: demo
	./$(BIN) run --workers $(WORKERS) $(GRID)
	./$(BIN) report --plot $(GRID)

vet:
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...

test: vet
	$(GO) test -count=1 -timeout 15m ./...

# Fuzzing: each target for FUZZTIME (CI runs this after make test). A
# crasher is written to the package's testdata/fuzz/<target>/ and stays
# there as a regression case that every `go test` runs. The budget is a
# count of inputs, not a duration: with a duration, Go 1.26's fuzzing
# coordinator can report "context deadline exceeded" as a failure when the
# time runs out on a busy machine (go.dev/issue/75804, fixed in Go 1.27).
FUZZTIME ?= 10000x
FUZZ := sweeps:FuzzParse engine/tokenizer:FuzzEncode engine/tokenizer:FuzzLoad \
	engine/safetensors:FuzzRead engine/torchscript:FuzzUnpickle engine/torchscript:FuzzArchive sweeps:FuzzConfigJSON

fuzz:
	@set -e; for t in $(FUZZ); do \
		pkg=$${t%%:*}; fn=$${t##*:}; echo "fuzz ./$$pkg $$fn ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) ./$$pkg; \
	done

# Benchmarks print ratios against references measured in the same run.
# engine/bench compares the engine with PyTorch (engine/reference/
# bench_pytorch.py; skipped, saying so, without python3-torch) and takes its
# own repetitions; BENCH_QUICK=1 makes it short. docs/performance.md.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 3x $$($(GO) list ./... | grep -v /engine/bench$$)
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./engine/bench

# gpu-check builds, here, what the CUDA device check runs on a GPU machine
# (which has no Go): the engine/cuda and engine/golden test binaries and the
# grid binary, in .gpucheck/. Carry .gpucheck there and run, from the
# repository root, `bash engine/cuda/gpucheck/run.sh` (under 8 minutes;
# docs/performance.md, CUDA section).
GPUCHECK := .gpucheck
GPUFLAGS := -ldflags='-s -w'
# The GPU machine may lack the system's libsqlite3: its binaries carry the
# bundled SQLite.
gpu-check: export GOFLAGS :=
gpu-check:
	rm -rf $(GPUCHECK) && mkdir -p $(GPUCHECK)
	$(GO) test -c $(GPUFLAGS) -o $(GPUCHECK)/cuda.test ./engine/cuda
	$(GO) test -c $(GPUFLAGS) -o $(GPUCHECK)/golden.test ./engine/golden
	$(GO) build $(GPUFLAGS) -o $(GPUCHECK)/grid ./cmd/grid
	@echo "gpu-check: carry $(GPUCHECK); on the GPU machine run: bash engine/cuda/gpucheck/run.sh"

clean:
	rm -rf bin runs demo $(GPUCHECK)

# mnist: build, test and run the digit-recognition engine.
#
#   make run     fetch MNIST, train on the best backend, report test accuracy, save the model
#   make test    everything CI checks: formatting, vet, tests (race where concurrent), bounded fuzzing
#
# CUDA: when nvcc and cuda.h are found, `make build` also builds bin/mnist-cuda
# (-tags cuda), which bin/mnist hands over to when a GPU answers. See gpu/cuda.mk.

GO      ?= go
BIN     ?= bin
DATA    ?= data
OUT     ?= model.safetensors
# Packages whose tests start goroutines: run them under the race detector too.
RACE_PKGS ?= ./cpu/... ./nn/... ./mnist/... ./cmd/...
FUZZTIME  ?= 20s


.PHONY: all build run data test unit race fuzz lint clean

all: build

build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -o $(BIN)/mnist ./cmd/mnist

data: build
	$(BIN)/mnist --data-dir $(DATA) data

run: data
	$(BIN)/mnist --data-dir $(DATA) info

test: lint unit race fuzz

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -count=1 ./...

race:
	CGO_ENABLED=1 $(GO) test -count=1 -race $(RACE_PKGS)

# Bounded fuzzing of every parser that reads untrusted files.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzReadIDX$$' -fuzztime $(FUZZTIME) ./mnist

clean:
	rm -rf $(BIN)

GO      ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BIN     := bin/shoal
# no_dynamic_plugins leaves out containerd's loader of Go plugins
# (containerd/plugin imports the standard "plugin" package), which the agent,
# a containerd client, never calls. Linking "plugin" makes the Go linker
# export every symbol in .dynsym and keep every exported method: 14 MB more
# binary, and ~9 MB more RSS in each idle agent. integration/harness_test.go
# builds with the same tag; cmd/shoal's TestNoGoPlugin checks it is enough.
TAGS    ?= no_dynamic_plugins

.PHONY: build test unit vet demo bench fuzz clean testimage

build:
	$(GO) build -tags "$(TAGS)" -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/shoal

vet:
	$(GO) vet ./...

# Unit tests, in-process clusters on loopback, and process-level tests.
test: vet
	$(GO) test -race -count=1 -timeout 15m ./...

unit:
	$(GO) test -count=1 -short ./...

# A local three-node cluster on loopback: forms, writes, kills the leader,
# shows the failover. See scripts/demo.sh.
demo: build
	bash scripts/demo.sh

bench: build
	bash scripts/bench.sh

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecodeCommand -fuzztime 60s ./consensus/

# The test image shoal.test/busybox:1 as an OCI archive, from busybox-static.
testimage:
	$(GO) run ./cmd/shoal-testimage -o bin/testimage.tar

clean:
	rm -rf bin

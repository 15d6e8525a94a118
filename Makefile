# See README.md. Every target works on a fresh Debian machine with Go.
GO ?= go
FUZZTIME ?= 10m

.PHONY: run test bench fuzz cross build wine-smoke

run:
	$(GO) run ./cmd/waptserver serve

test:
	./scripts/test.sh

# The Windows agent under Wine against a real server (also part of make test).
wine-smoke:
	./scripts/wine-smoke.sh

build:
	$(GO) build -o bin/ ./cmd/...

bench:
	./bench/cab.sh
	./bench/catalog.sh
	./bench/cabsync.sh

fuzz:
	$(GO) test ./internal/lzx -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1s
	$(GO) test ./internal/cab -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1s
	$(GO) test ./internal/cab/authenticode -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1s
	$(GO) test ./internal/catalog -run '^$$' -fuzz '^FuzzFragment$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1s
	$(GO) test ./internal/catalog -run '^$$' -fuzz '^FuzzPackageXML$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1s
	$(GO) test ./internal/config -run '^$$' -fuzz '^FuzzParseDuration$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1s
	$(GO) test ./internal/config -run '^$$' -fuzz '^FuzzParseAgent$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1s
	$(GO) test ./internal/rules -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1s
	$(GO) test ./internal/server -run '^$$' -fuzz '^FuzzDecodeReport$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1s
	$(GO) test ./internal/pkg -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1s
	$(GO) test ./internal/jsonlimit -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1s
	$(GO) test ./internal/schedule -run '^$$' -fuzz '^FuzzPlan$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1s

cross:
	for a in amd64 386 arm64; do GOOS=windows GOARCH=$$a CGO_ENABLED=0 $(GO) build -o bin/windows-$$a/ ./cmd/... || exit 1; done

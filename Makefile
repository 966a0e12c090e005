GO      ?= go
BIN     := bin/meridian
PKGS    := ./...

.PHONY: all build run test bench bench-dns bench-relay fuzz lab lab-clean clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/meridian

# The whole system on loopback: director, node agents, relays, CoreDNS,
# with a small GeoIP database (zones/demo-geoip.yaml) both director and
# DNS server read, so that `dig +subnet=...` shows geo answers.
DEMO_GEOIP := .run/demo/GeoLite2-City.mmdb
run: build
	$(GO) run ./geoip/geoiptest/mmdbgen -in zones/demo-geoip.yaml -out $(DEMO_GEOIP)
	./$(BIN) demo --geoip $(DEMO_GEOIP)

test:
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 30m $(PKGS)
	cd third_party/miekg-dns && $(GO) test -count=1 ./...

# Selection engine and sync fan-out benchmarks.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./cluster/ ./director/ ./api/client/

# dnsperf against the meridian plugin, CoreDNS's file plugin and whoami.
bench-dns: build
	GO=$(GO) BIN=$(BIN) plugin/meridian/bench/bench-dns.sh

# coturn's turnutils_uclient load against coturn's turnserver and the Meridian relay.
bench-relay:
	GO=$(GO) relay/bench/bench.sh

# Short fuzz runs of every fuzz target; their seed corpora run in `make test`.
FUZZTIME ?= 30s
FUZZ := ./cluster:FuzzParse ./cluster:FuzzParsePrefix ./cluster:FuzzSelect ./cluster:FuzzParseOffset \
	./plugin/meridian:FuzzECS ./api/client:FuzzVerify ./relay:FuzzInspect \
	./bgp:FuzzParsePrefix ./bgp:FuzzParseCommunity ./node:FuzzParseLoadAvg
fuzz:
	@for t in $(FUZZ); do \
		echo "fuzz $$t"; \
		$(GO) test $${t%%:*} -run '^$$' -fuzz "^$${t##*:}$$" -fuzztime $(FUZZTIME) || exit 1; \
	done
	@echo "fuzz third_party/miekg-dns:FuzzRequestHasOPT"
	cd third_party/miekg-dns && $(GO) test . -run '^$$' -fuzz '^FuzzRequestHasOPT$$' -fuzztime $(FUZZTIME)

# The two-region lab in network namespaces (root, FRR, coturn): every
# scenario, one table, lab/results.json.
lab: build
	$(GO) run ./lab/runner -topology lab/topology.clab.yml -bin $(BIN)

# Remove namespaces and run directories a killed lab left behind.
lab-clean:
	$(GO) run ./lab/runner -clean

clean:
	rm -rf bin .run

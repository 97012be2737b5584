# 402claw — two commands set everything up: `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
NPM ?= npm
BIN := bin/402claw
STRIPE_MOCK_VERSION := v0.203.0
GOBIN := $(shell $(GO) env GOPATH)/bin

.PHONY: run test build generate assets lint bench deps node-deps stripe-mock check-generated vendor clean

# Node packages (workerd, the official x402 clients) from package-lock.json.
node_modules/.package-lock.json: package.json package-lock.json
	$(NPM) ci --no-audit --no-fund
	@touch $@
node-deps: node_modules/.package-lock.json

deps: node-deps
	$(GO) mod download

stripe-mock:
	@test -x "$(GOBIN)/stripe-mock" || $(GO) install github.com/stripe/stripe-mock@$(STRIPE_MOCK_VERSION)

generate:
	$(GO) tool templ generate

# The Code tab's editor (CodeMirror 6 from npm) bundled into static/js/editor.js.
assets: node-deps
	$(GO) run ./cmd/assets

build: generate
	$(GO) build -o $(BIN) ./cmd/402claw

# Run the portal with SQLite and the local edge (emulated Cloudflare API + workerd). Billing is
# the demo (a fake checkout that upgrades for free: local only) unless a Stripe key or
# CLAW_BILLING says otherwise.
run: deps build
	@if [ -z "$$CLAW_BILLING" ] && [ -z "$$CLAW_STRIPE_SECRET_KEY$$CLAW_STRIPE_SECRET_KEY_FILE" ]; then export CLAW_BILLING=demo; fi; \
	exec ./$(BIN) serve

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '_templ.go$$')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@for f in $$(git ls-files '*.templ'); do $(GO) tool templ fmt -stdout $$f 2>/dev/null | cmp -s - $$f || { echo "templ fmt needed: $$f (run 'go tool templ fmt views/')"; exit 1; }; done

# Fails when committed *_templ.go files do not match their .templ sources.
# Fails when a generated file (templ's *_templ.go, the editor bundle) does not match its
# sources, or was never committed.
check-generated: assets
	$(GO) tool templ generate
	@out=$$(git status --porcelain -- '*_templ.go' static/js/editor.js); if [ -n "$$out" ]; then echo "$$out"; echo "generated files are stale or uncommitted: run 'make generate assets' and commit"; exit 1; fi

test: deps stripe-mock
	@if [ -z "$$CLAW_TEST_POSTGRES_URL" ]; then \
	  echo "************************************************************************"; \
	  echo "*** CLAW_TEST_POSTGRES_URL is not set: PostgreSQL tests are SKIPPED. ***"; \
	  echo "*** Set it (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)"; \
	  echo "************************************************************************"; fi
	@command -v chromium >/dev/null || echo "*** chromium is not installed: browser tests are SKIPPED (apt-get install -y chromium) ***"
	PATH="$(GOBIN):$$PATH" $(GO) test -count=1 -timeout 20m ./...
	node --test workers/

# Benchmarks: Go micro-benchmarks plus the load runs (wrk on loopback, workerd).
# Each prints its table; the README's Performance section records the results.
bench: deps build
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 2s ./models/... ./workers/bundle/ ./workers/facilitator/ ./workers/localcf/
	CLAW_BENCH=1 $(GO) test -count=1 -run '^TestLoadPages$$' -v -timeout 30m ./web/ | grep -v '^time='
	CLAW_BENCH=1 $(GO) test -count=1 -run '^TestBenchmarkSync$$' -v -timeout 30m ./workers/syncer/
	CLAW_BENCH=1 $(GO) test -count=1 -run '^TestBench$$' -v -timeout 30m ./workers/runtime/
	CLAW_BENCH=1 $(GO) test -count=1 -run '^TestBenchX402$$' -v -timeout 30m ./workers/runtime/

# Refresh the vendored htmx from the pinned npm package.
vendor: node-deps
	cp node_modules/htmx.org/dist/htmx.min.js static/js/htmx-2.0.11.min.js

clean:
	rm -rf bin

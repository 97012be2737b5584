import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { configKey } from "./config.js";
import { matchRoute } from "./routes.js";
import { checkApiKey } from "./access.js";
import { callerLimits } from "./quota.js";
import { prepare, formatAmount } from "./x402.js";
import { fnv1a } from "./hash.js";

// The config document the portal builds (workers/deploy.go BuildConfig), written with the
// facts the portal shows for each route by TestConfigDocGolden (workers/config_golden_test.go).
const golden = JSON.parse(readFileSync(new URL("../testdata/config_doc.json", import.meta.url), "utf8"));
const doc = golden.document;

test("config_doc.json: the portal's document is read at the key the portal writes", () => {
  assert.equal(configKey(doc.slug), golden.key);
  assert.ok(golden.routes.length >= 4);
  assert.equal(golden.routes.length, doc.routes.length);
});

test("config_doc.json: every route is found, with its access", () => {
  for (const [i, want] of golden.routes.entries()) {
    const r = matchRoute(doc.routes, want.method, want.path);
    assert.equal(r, doc.routes[i], want.method + " " + want.path);
    assert.equal(r.access, want.access, want.path);
  }
});

test("config_doc.json: the live API key opens an api_key route, the revoked one does not", async () => {
  const req = (key) => new Request("https://golden.example/keyed/42", { headers: { "x-api-key": key } });
  assert.equal(await checkApiKey(req(golden.api_key), doc), null);
  assert.equal((await checkApiKey(req("ck_revoked"), doc)).status, 403);
  const keyed = doc.routes.find((r) => r.access === "api_key");
  assert.ok(callerLimits(keyed), "the api_key route's daily quota is read");
});

test("config_doc.json: a priced route's page names the network and the price as the portal does", () => {
  const paid = golden.routes.filter((r) => r.access === "x402");
  assert.ok(paid.length >= 2, "one priced route per network");
  for (const want of paid) {
    const route = matchRoute(doc.routes, want.method, want.path);
    const p = prepare(doc, route);
    assert.ok(p.ok, want.path);
    const html = p.page();
    assert.ok(html.includes("<strong>" + want.price + " USDC</strong>"), want.path + ": price " + want.price + " in " + html);
    assert.ok(html.includes("<strong>" + want.network_name + "</strong>"), want.path + ": network " + want.network_name);
    assert.equal(formatAmount(route.requirements.amount, route.display.decimals), want.price);
    const challenge = JSON.parse(p.paymentRequired("Payment required", "https://golden.example" + want.path).json);
    assert.deepEqual(challenge.accepts, [route.requirements], want.path);
    assert.ok(callerLimits(route), want.path + ": limits read");
    assert.equal(p.mode, want.settle, want.path + ": settlement mode");
    assert.equal(p.refuseS, want.refuse_s ?? null, want.path + ": refusal time (null follows OPTIMISTIC_REFUSE_S)");
  }
});

test("a priced route without display facts states the atomic amount and the network id", () => {
  const route = structuredClone(doc.routes.find((r) => r.access === "x402"));
  delete route.display;
  const html = prepare(null, route).page();
  assert.ok(html.includes("<strong>" + route.requirements.amount + " atomic units of USDC</strong>"), html);
  assert.ok(html.includes("<strong>" + route.requirements.network + "</strong>"), html);
});

test("fnv1a: the published FNV-1a 32-bit vectors", () => {
  for (const [s, want] of [["", 0x811c9dc5], ["a", 0xe40c292c], ["foobar", 0xbf9cf968]]) {
    assert.equal(fnv1a(s), want, JSON.stringify(s));
  }
});

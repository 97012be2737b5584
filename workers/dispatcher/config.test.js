import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { readConfig, verifyDigest, ConfigForged, configKey } from "./config.js";

// The names the portal builds (models/edgenames.go), written by TestEdgeNamesGolden.
const edgeNames = JSON.parse(readFileSync(new URL("../../models/testdata/edge_names.json", import.meta.url), "utf8"));

// The golden vector of workers/deploy_test.go (TestConfigDigestGolden): the
// Go portal's DocDigest and this verification must agree byte for byte.
const KEY = "a98cb959b5c89d4a6b022d89724f1444d9fa9d17afd3b6304b87c186d1f6d8a7";
const DOC = '{"v":1,"slug":"shop"}';
const DIGEST = "62a860f7c3067f738aa41692b39dd417a15c4ea6ae59918cc861ccaadd724e6b";

function kv(value, metadata) {
  return {
    async get() {
      return value === null ? null : JSON.parse(value);
    },
    async getWithMetadata() {
      return { value, metadata };
    },
  };
}

test("config digest: the portal's golden vector verifies, other bytes do not", async () => {
  assert.equal(await verifyDigest(KEY, DOC, DIGEST), true);
  assert.equal(await verifyDigest(KEY, DOC.replace("shop", "shoq"), DIGEST), false);
  assert.equal(await verifyDigest(KEY, DOC, DIGEST.replace(/^6/, "7")), false);
  assert.equal(await verifyDigest(KEY, DOC, "not hex"), false);
});

test("readConfig with a key: verified documents only", async () => {
  assert.deepEqual(await readConfig(kv(DOC, { sha256: DIGEST }), "shop", KEY), { v: 1, slug: "shop" });
  assert.equal(await readConfig(kv(null, null), "shop", KEY), null);
  const cases = [
    ["no metadata", kv(DOC, null)],
    ["a plain hash as digest", kv(DOC, { sha256: "0".repeat(64) })],
    ["the real digest copied onto a forged document", kv('{"v":1,"slug":"shop","pay_to":"0xattacker"}', { sha256: DIGEST })],
  ];
  for (const [name, store] of cases) {
    await assert.rejects(readConfig(store, "shop", KEY), ConfigForged, name);
  }
  // Without a key (tests that write documents by hand) nothing is checked.
  assert.deepEqual(await readConfig(kv(DOC, null), "shop", undefined), { v: 1, slug: "shop" });
});

test("edge_names.json: the config key is the portal's, and readConfig reads it", async () => {
  assert.ok(edgeNames.cases.length >= 3);
  for (const c of edgeNames.cases) {
    assert.equal(configKey(c.slug), c.config_key, c.slug);
    const asked = [];
    const store = {
      async get(k) {
        asked.push(k);
        return null;
      },
      async getWithMetadata(k) {
        asked.push(k);
        return { value: null, metadata: null };
      },
    };
    await readConfig(store, c.slug, undefined);
    await readConfig(store, c.slug, KEY);
    assert.deepEqual(asked, [c.config_key, c.config_key], c.slug);
  }
});

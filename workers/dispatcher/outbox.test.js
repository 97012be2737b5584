import { test } from "node:test";
import assert from "node:assert/strict";
import { OUTBOX_PREFIX, DELIVER_BATCH, RETRY_MAX_MS, deliver, retryDelay, settlementRecord } from "./outbox.js";
import { newEvent } from "./telemetry.js";

// memStorage is the part of Durable Object storage the outbox uses: list in
// key order with prefix and limit, and delete of up to 128 keys.
function memStorage(entries = {}) {
  const m = new Map(Object.entries(entries));
  return {
    m,
    async list({ prefix = "", limit = Infinity } = {}) {
      const keys = [...m.keys()].filter((k) => k.startsWith(prefix)).sort().slice(0, limit);
      return new Map(keys.map((k) => [k, m.get(k)]));
    },
    async delete(keys) {
      assert.ok(keys.length <= 128, "delete takes at most 128 keys");
      for (const k of keys) m.delete(k);
    },
  };
}

const env = { INGEST_URL: "http://portal/internal/telemetry", INGEST_TOKEN: "s3cret" };

function portal(...statuses) {
  const posts = [];
  const f = async (url, init) => {
    posts.push({ url, auth: init.headers.authorization, body: JSON.parse(init.body) });
    const st = statuses.length ? statuses.shift() : 202;
    if (st === "down") throw new TypeError("fetch failed");
    return new Response("{}", { status: st });
  };
  return { posts, f };
}

test("outbox: a record stays until the portal answers 2xx, then it is deleted", async () => {
  const rec = { app: "shop", nonce: "0x01", network: "eip155:84532", amount: "10000" };
  const st = memStorage({ [OUTBOX_PREFIX + "k1"]: rec, "eip155:84532|k1": 1234 });
  const p = portal("down", 500, 401, 202);
  for (const want of ["fetch failed", "HTTP 500", "HTTP 401"]) {
    const r = await deliver(st, env, p.f);
    assert.deepEqual(r, { sent: 0, more: true, failed: true, reason: want });
    assert.ok(st.m.has(OUTBOX_PREFIX + "k1"), "kept after " + want);
  }
  const r = await deliver(st, env, p.f);
  assert.deepEqual(r, { sent: 1, more: false, failed: false });
  assert.equal(st.m.has(OUTBOX_PREFIX + "k1"), false);
  assert.equal(st.m.get("eip155:84532|k1"), 1234, "lock entries are not the outbox's");
  assert.equal(p.posts.length, 4);
  for (const post of p.posts) {
    assert.equal(post.url, env.INGEST_URL);
    assert.equal(post.auth, "Bearer s3cret");
    assert.deepEqual(post.body, { settlements: [rec] });
  }
  assert.deepEqual(await deliver(st, env, p.f), { sent: 0, more: false, failed: false }, "nothing left, nothing sent");
  assert.equal(p.posts.length, 4);
});

test("outbox: records leave in batches and more says so", async () => {
  const entries = {};
  const n = DELIVER_BATCH * 2 + 3;
  for (let i = 0; i < n; i++) entries[OUTBOX_PREFIX + String(i).padStart(4, "0")] = { nonce: i };
  const st = memStorage(entries);
  const p = portal();
  const got = [];
  for (;;) {
    const r = await deliver(st, env, p.f);
    got.push(r.sent);
    if (!r.more) break;
  }
  assert.deepEqual(got, [DELIVER_BATCH, DELIVER_BATCH, 3]);
  const nonces = p.posts.flatMap((post) => post.body.settlements.map((s) => s.nonce));
  assert.deepEqual(nonces, [...Array(n).keys()], "each record once, in order");
  assert.equal(st.m.size, 0);
});

test("outbox: without an ingest URL records are kept and nothing is sent", async () => {
  const st = memStorage({ [OUTBOX_PREFIX + "a"]: { nonce: "0x1" } });
  const p = portal();
  const r = await deliver(st, {}, p.f);
  assert.equal(r.failed, true);
  assert.equal(p.posts.length, 0);
  assert.equal(st.m.size, 1);
});

test("outbox: retries back off to a ceiling", () => {
  const mid = () => 0.5; // no jitter
  const d = [1, 2, 3, 4, 10, 50].map((n) => retryDelay(n, mid));
  for (let i = 1; i < d.length; i++) assert.ok(d[i] >= d[i - 1], "never shorter: " + d);
  assert.equal(d[0], 2000);
  assert.equal(d[d.length - 1], RETRY_MAX_MS);
  assert.ok(retryDelay(50, () => 0.999) <= RETRY_MAX_MS * 1.25);
});

test("outbox: a settlement record carries what the ledger needs", () => {
  const ev = newEvent("GET", "shop");
  Object.assign(ev, { route: "GET /paid", payer: "0xabc", nonce: "0x01", amount: "10000", network: "eip155:84532", transaction: "0xfeed", simulated: true, payment_success: true, settlement_result: "success" });
  const r = settlementRecord(ev, "0xusdc");
  assert.equal(typeof r.ts, "number");
  delete r.ts;
  const want = { app: "shop", route: "GET /paid", payer: "0xabc", nonce: "0x01", amount: "10000", asset: "0xusdc", network: "eip155:84532", transaction: "0xfeed", simulated: true };
  assert.deepEqual(r, { ...want, success: true, settlement_result: "success" });
  // Pending and failed settlements are ledger rows too, unpaid, with the reason.
  for (const [result, success] of [["settlement_pending", false], ["optimistic_loss:insufficient_funds", false], [undefined, false]]) {
    Object.assign(ev, { payment_success: success, settlement_result: result });
    const x = settlementRecord(ev, "0xusdc");
    delete x.ts;
    assert.deepEqual(x, { ...want, success, settlement_result: result || "settlement_failed" });
  }
});

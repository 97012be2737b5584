import { test } from "node:test";
import assert from "node:assert/strict";
import { decide, atomicOf, refund, take, windowCount } from "./quota.js";

const T0 = Date.UTC(2026, 11, 5, 10, 0, 0);

test("perMinute: exactly q per window, then rate_limited until the next minute", () => {
  const s = {};
  for (let i = 0; i < 3; i++) {
    const d = decide(s, { perMinute: 3 }, "0", T0 + i);
    assert.equal(d.ok, true);
    assert.deepEqual(d.policies[0], { name: "minute", q: 3, w: 60, r: 2 - i, t: 60 });
  }
  const d = decide(s, { perMinute: 3 }, "0", T0 + 30000);
  assert.equal(d.ok, false);
  assert.equal(d.code, "rate_limited");
  assert.equal(d.retryAfter, 30);
  assert.equal(decide(s, { perMinute: 3 }, "0", T0 + 60000).ok, true);
});

test("token bucket: burst then perSecond", () => {
  const s = {};
  const l = { perSecond: 2, burst: 4 };
  for (let i = 0; i < 4; i++) assert.equal(decide(s, l, "0", T0).ok, true);
  const d = decide(s, l, "0", T0);
  assert.equal(d.ok, false);
  assert.equal(d.retryAfter, 1);
  assert.equal(decide(s, l, "0", T0 + 500).ok, true);
  assert.equal(decide(s, l, "0", T0 + 500).ok, false);
});

test("a refused request uses no quota anywhere", () => {
  const s = {};
  const l = { perMinute: 10, daily: 2 };
  assert.equal(decide(s, l, "0", T0).ok, true);
  assert.equal(decide(s, l, "0", T0).ok, true);
  const d = decide(s, l, "0", T0);
  assert.equal(d.code, "quota_exhausted");
  assert.equal(s.minute.n, 2);
});

test("monthly quota renews on the first of the next month", () => {
  const s = {};
  const end = Date.UTC(2026, 11, 31, 23, 59, 0);
  assert.equal(decide(s, { monthly: 1 }, "0", end).ok, true);
  const d = decide(s, { monthly: 1 }, "0", end);
  assert.equal(d.code, "quota_exhausted");
  assert.equal(d.retryAfter, 60);
  assert.equal(decide(s, { monthly: 1 }, "0", Date.UTC(2027, 0, 1)).ok, true);
});

test("daily spend cap in atomic units", () => {
  assert.equal(atomicOf("25000"), 25000n);
  assert.equal(atomicOf("0.5"), null);
  assert.equal(atomicOf("x"), null);
  const s = {};
  const l = { dailySpend: "25000" };
  assert.equal(decide(s, l, "10000", T0).ok, true);
  assert.equal(decide(s, l, "10000", T0).ok, true);
  const d = decide(s, l, "10000", T0);
  assert.equal(d.code, "spend_cap_reached");
  assert.equal(s.spend.n, "20000");
  assert.equal(decide(s, l, "5000", T0).ok, true);
});

test("refund gives back the bucket's token and the minute's count", () => {
  const s = {};
  const l = { perSecond: 1, burst: 2, perMinute: 5 };
  assert.equal(decide(s, l, "0", T0).ok, true);
  assert.equal(decide(s, l, "0", T0).ok, true);
  assert.equal(decide(s, l, "0", T0).ok, false);
  refund(s, l, T0);
  assert.equal(s.minute.n, 1);
  assert.equal(decide(s, l, "0", T0).ok, true);
  // A refund after the minute rolled over leaves the new window alone.
  refund(s, l, T0 - 60000);
  assert.equal(s.minute.n, 2);
});

// A LIMIT namespace whose objects run decide on their own state, as
// limit.js does, answering after a delay; calls counts the round trips.
function fakeLimiter(delayMs) {
  const objects = new Map();
  const ns = {
    calls: 0,
    idFromName: (name) => name,
    get(id) {
      if (!objects.has(id)) objects.set(id, {});
      const state = objects.get(id);
      return {
        take: async (limits, cost) => {
          ns.calls++;
          await new Promise((r) => setTimeout(r, delayMs));
          return decide(state, limits, cost, Date.now());
        },
      };
    },
  };
  return ns;
}

test("take: rate windows are counted in memory, exactly under concurrency, without the object", async () => {
  const env = { LIMIT: fakeLimiter(1) };
  const route = { method: "GET", path: "/a-" + Math.random() };
  const limits = { perMinute: 5 };
  const ds = await Promise.all(Array.from({ length: 20 }, () => take(env, "app", route, "ip:1", limits, "0")));
  assert.equal(ds.filter((d) => d.ok).length, 5);
  const no = ds.find((d) => !d.ok);
  assert.equal(no.code, "rate_limited");
  assert.ok(no.retryAfter >= 1 && no.retryAfter <= 60);
  assert.equal(env.LIMIT.calls, 0);
  // Another caller has a window of its own.
  assert.equal((await take(env, "app", route, "ip:2", limits, "0")).ok, true);
  // Without a binding the rate windows still hold.
  assert.equal((await take({}, "app", route, "ip:1", limits, "0")).ok, false);
});

test("take: quotas go to the object; a request it refuses is given back to the rate windows", async () => {
  const env = { LIMIT: fakeLimiter(2) };
  const route = { method: "GET", path: "/b-" + Math.random() };
  const limits = { perMinute: 10, daily: 3 };
  const ds = await Promise.all(Array.from({ length: 20 }, () => take(env, "app", route, "key:k", limits, "0")));
  assert.equal(ds.filter((d) => d.ok).length, 3);
  // 10 passed the minute window and reached the object; 7 of them were refused there.
  assert.equal(env.LIMIT.calls, 10);
  assert.equal(ds.filter((d) => !d.ok && d.code === "quota_exhausted").length, 7);
  assert.equal(ds.filter((d) => !d.ok && d.code === "rate_limited").length, 10);
  // The refused ones used no minute quota: 7 more requests reach the object.
  const more = await Promise.all(Array.from({ length: 8 }, () => take(env, "app", route, "key:k", limits, "0")));
  assert.equal(env.LIMIT.calls, 17);
  assert.deepEqual(more.map((d) => d.code), [...Array(7).fill("quota_exhausted"), "rate_limited"]);
  // The first of them counted as the minute's 4th of 10 (6 left), then was given back: 7 left.
  const q = more[0];
  assert.deepEqual(q.policies.map((p) => [p.name, p.r]), [["minute", 7], ["day", 0]]);
});

test("take: the spend cap is the object's, with the route's price", async () => {
  const env = { LIMIT: fakeLimiter(0) };
  const route = { method: "GET", path: "/c-" + Math.random() };
  const limits = { dailySpend: "25000" };
  assert.equal((await take(env, "app", route, "payer:0xa", limits, "10000")).ok, true);
  assert.equal((await take(env, "app", route, "payer:0xa", limits, "10000")).ok, true);
  assert.equal((await take(env, "app", route, "payer:0xa", limits, "10000")).code, "spend_cap_reached");
  assert.equal(env.LIMIT.calls, 3);
  assert.equal(await take(env, "app", route, "payer:0xa", {}, "0"), null);
});

test("take: an unreachable object lets quotas fail open, rate windows still hold", async () => {
  const env = { LIMIT: { idFromName: (n) => n, get: () => ({ take: () => Promise.reject(new Error("down")) }) } };
  const route = { method: "GET", path: "/d-" + Math.random() };
  const err = console.error;
  console.error = () => {};
  try {
    const a = await take(env, "app", route, "ip:9", { perMinute: 1, daily: 1 }, "0");
    assert.equal(a.ok, true);
    assert.equal((await take(env, "app", route, "ip:9", { perMinute: 1, daily: 1 }, "0")).code, "rate_limited");
  } finally {
    console.error = err;
  }
  assert.ok(windowCount() > 0);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { decide, atomicOf } from "./quota.js";

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

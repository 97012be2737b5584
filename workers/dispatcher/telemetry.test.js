import { test } from "node:test";
import assert from "node:assert/strict";
import { sendEvent, newEvent, toDataPoint, BATCH_MAX, BATCH_MS } from "./telemetry.js";

// A fake request context and fetch: records what the edge would POST.
function harness() {
  const posts = [];
  const pending = [];
  globalThis.fetch = async (url, init) => {
    posts.push({ url, auth: init.headers.authorization, events: JSON.parse(init.body).events });
    return new Response(null, { status: 204 });
  };
  const ctx = { waitUntil: (p) => pending.push(p) };
  const env = { INGEST_URL: "http://portal/internal/telemetry", INGEST_TOKEN: "s3cret" };
  const settle = async () => {
    while (pending.length) await pending.shift();
  };
  return { posts, ctx, env, settle };
}

test("telemetry: events of many requests leave in one POST after the batch interval", async () => {
  const h = harness();
  const started = Date.now();
  for (let i = 0; i < 5; i++) {
    const ev = newEvent("GET", "app-" + i);
    sendEvent(h.env, h.ctx, ev);
  }
  assert.equal(h.posts.length, 0, "nothing is sent before the interval");
  await h.settle();
  assert.ok(Date.now() - started >= BATCH_MS - 5, "flushed after the interval");
  assert.equal(h.posts.length, 1);
  assert.equal(h.posts[0].auth, "Bearer s3cret");
  assert.deepEqual(h.posts[0].events.map((e) => e.app), ["app-0", "app-1", "app-2", "app-3", "app-4"]);
});

test("telemetry: a full batch leaves at once and nothing is lost or sent twice", async () => {
  const h = harness();
  const n = BATCH_MAX * 2 + 7;
  for (let i = 0; i < n; i++) sendEvent(h.env, h.ctx, newEvent("GET", "a" + i));
  // Two full batches went without waiting for the timer.
  await Promise.resolve();
  assert.equal(h.posts.length, 2);
  await h.settle();
  assert.equal(h.posts.length, 3);
  const apps = h.posts.flatMap((p) => p.events.map((e) => e.app));
  assert.equal(apps.length, n);
  assert.equal(new Set(apps).size, n);
});

test("telemetry: no ingest URL or no context sends nothing and never throws", async () => {
  const h = harness();
  sendEvent({}, h.ctx, newEvent("GET", "x"));
  sendEvent(h.env, null, newEvent("GET", "x"));
  await h.settle();
  assert.equal(h.posts.length, 0);
  sendEvent(h.env, h.ctx, newEvent("GET", "y"));
  await h.settle();
  assert.deepEqual(h.posts.map((p) => p.events.map((e) => e.app)), [["y"]]);
});

test("telemetry: served is false until the tenant is called, and Analytics Engine gets it last", () => {
  const ev = newEvent("GET", "shop");
  assert.equal(ev.served, false);
  assert.equal(toDataPoint(ev).doubles.length, 8);
  assert.equal(toDataPoint(ev).blobs.length, 14);
  assert.equal(toDataPoint(ev).doubles[6], 0);
  ev.served = true;
  assert.equal(toDataPoint(ev).doubles[6], 1);
});

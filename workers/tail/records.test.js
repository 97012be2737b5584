import { test } from "node:test";
import assert from "node:assert/strict";
import { toRecords, LOG_LINES, LOG_LINE_CHARS } from "./records.js";

const item = (over = {}) => ({
  scriptName: "app-shop",
  outcome: "ok",
  eventTimestamp: 1000,
  event: {
    request: { url: "https://x.example/shop/items?q=1", method: "GET", headers: { "claw-request-id": "rid-1", "claw-route": "GET /items" } },
    response: { status: 201 },
  },
  logs: [
    { level: "log", timestamp: 1001, message: ["hello", { a: 1 }, 2] },
    { level: "warn", timestamp: 1002, message: ["careful"] },
  ],
  exceptions: [],
  ...over,
});

test("a fetch's lines become one record", () => {
  const [r] = toRecords([item()]);
  assert.deepEqual(r, {
    ts: 1000, app: "shop", request_id: "rid-1", method: "GET", path: "/shop/items", route: "GET /items", status: 201, dropped: 0,
    lines: [{ ts: 1001, level: "info", message: 'hello {"a":1} 2' }, { ts: 1002, level: "warn", message: "careful" }],
  });
});

test("an uncaught exception with its stack, status 500", () => {
  const [r] = toRecords([item({ outcome: "exception", event: { request: item().event.request }, logs: [],
    exceptions: [{ name: "Error", message: "boom", timestamp: 1003, stack: "Error: boom\n    at fetch (index.js:3:9)" }] })]);
  assert.equal(r.status, 500);
  assert.deepEqual(r.lines, [{ ts: 1003, level: "error", message: "Uncaught Error: boom\n    at fetch (index.js:3:9)", mapped: true }]);
});

test("the platform's outcome is said", () => {
  const [r] = toRecords([item({ outcome: "exceededCpu", logs: [] })]);
  assert.match(r.lines[0].message, /exceededCpu/);
});

test("caps: lines per request and characters per line", () => {
  const logs = [];
  for (let i = 0; i < LOG_LINES + 5; i++) logs.push({ level: "log", timestamp: i, message: ["x".repeat(i === 0 ? LOG_LINE_CHARS + 10 : 1)] });
  const [r] = toRecords([item({ logs })]);
  assert.equal(r.lines.length, LOG_LINES);
  assert.equal(r.dropped, 5);
  assert.match(r.lines[0].message, /… \[truncated: 10 more characters\]$/);
});

test("not ours or nothing logged: no record", () => {
  assert.deepEqual(toRecords([item({ scriptName: "402claw-dispatcher" }), item({ logs: [] }), item({ event: { cron: "* * * * *" } }), null]), []);
});

test("Headers objects too", () => {
  const req = { url: "https://x/y", method: "POST", headers: new Headers({ "Claw-Request-Id": "rid-2" }) };
  const [r] = toRecords([item({ event: { request: req } })]);
  assert.equal(r.request_id, "rid-2");
  assert.equal(r.status, 200);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { servesLLMs, docsURL, portalBase } from "./docs.js";

test("servesLLMs: a listed app's /llms.txt, unless a route of its own is /llms.txt", () => {
  const listed = { listed: true, routes: [{ path: "/paid" }] };
  const cases = [
    ["GET", "/llms.txt", listed, true],
    ["HEAD", "/llms.txt", listed, true],
    ["POST", "/llms.txt", listed, false],
    ["GET", "/x/llms.txt", listed, false],
    ["GET", "/llms.txt", { routes: [] }, false],
    ["GET", "/llms.txt", { listed: true, routes: [{ path: "/llms.txt" }] }, false],
  ];
  for (const [method, path, cfg, want] of cases) assert.equal(servesLLMs(method, path, cfg), want, method + " " + path + " " + JSON.stringify(cfg));
});

test("docsURL: the portal's docs page of a listed app", () => {
  assert.equal(portalBase({ INGEST_URL: "http://127.0.0.1:8080/internal/telemetry" }), "http://127.0.0.1:8080");
  assert.equal(portalBase({ PORTAL_URL: "https://portal.example", INGEST_URL: "http://10.0.0.1/x" }), "https://portal.example");
  assert.equal(portalBase({}), null);
  // An operator serving the portal under a path keeps it (the origin alone would 404).
  assert.equal(portalBase({ PORTAL_URL: "https://example.com/claw/", INGEST_URL: "https://example.com/claw/internal/telemetry" }), "https://example.com/claw");
  assert.equal(docsURL({ PORTAL_URL: "https://example.com/claw" }, { listed: true, slug: "shop" }), "https://example.com/claw/a/shop");
  const env = { INGEST_URL: "https://portal.example/internal/telemetry" };
  assert.equal(docsURL(env, { listed: true, slug: "weather" }), "https://portal.example/a/weather");
  assert.equal(docsURL(env, { listed: false, slug: "weather" }), null);
  assert.equal(docsURL({}, { listed: true, slug: "weather" }), null);
});

test("the report link follows the portal's public address", async () => {
  const { reportURL } = await import("./x402.js");
  assert.equal(reportURL({ PORTAL_URL: "https://example.com/claw", INGEST_URL: "http://10.0.0.1:8080/internal/telemetry" }, "shop"), "https://example.com/claw/report?app=shop");
  assert.equal(reportURL({ INGEST_URL: "http://127.0.0.1:8080/internal/telemetry" }, "a b"), "http://127.0.0.1:8080/report?app=a%20b");
  assert.equal(reportURL({ REPORT_URL: "https://abuse.example/form", PORTAL_URL: "https://p.example" }, "shop"), "https://abuse.example/form?app=shop");
  assert.equal(reportURL({}, "shop"), null);
});

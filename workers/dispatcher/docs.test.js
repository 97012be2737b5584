import { test } from "node:test";
import assert from "node:assert/strict";
import { servesLLMs, docsURL, portalOrigin } from "./docs.js";

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
  assert.equal(portalOrigin({ INGEST_URL: "http://127.0.0.1:8080/internal/telemetry" }), "http://127.0.0.1:8080");
  assert.equal(portalOrigin({ PORTAL_URL: "https://portal.example", INGEST_URL: "http://10.0.0.1/x" }), "https://portal.example");
  assert.equal(portalOrigin({}), null);
  const env = { INGEST_URL: "https://portal.example/internal/telemetry" };
  assert.equal(docsURL(env, { listed: true, slug: "weather" }), "https://portal.example/a/weather");
  assert.equal(docsURL(env, { listed: false, slug: "weather" }), null);
  assert.equal(docsURL({}, { listed: true, slug: "weather" }), null);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { edgeFavicon, FAVICON_SVG } from "./favicon.js";
import { resolveApp } from "./resolve.js";

test("edgeFavicon", async () => {
  const cases = [
    ["GET", "/favicon.ico", 200],
    ["HEAD", "/favicon.ico", 200],
    ["GET", "/favicon.svg", 200],
    ["POST", "/favicon.ico", null],
    ["GET", "/favicon.png", null],
    ["GET", "/hello/favicon.ico", null],
  ];
  for (const [method, path, want] of cases) {
    const r = edgeFavicon(method, path);
    assert.equal(r && r.status, want, method + " " + path);
    if (r && method === "GET") {
      assert.equal(r.headers.get("content-type"), "image/svg+xml");
      assert.equal(await r.text(), FAVICON_SVG);
    }
  }
  // Only URLs with no app in them reach it: an app's own icon stays the app's.
  assert.equal(resolveApp("127.0.0.1:8787", "/favicon.ico", "localhost").slug, null);
  assert.equal(resolveApp("hello.localhost", "/favicon.ico", "localhost").slug, "hello");
});

test("the edge's icon is the portal's", () => {
  const portal = readFileSync(new URL("../../static/favicon.svg", import.meta.url), "utf8").trim();
  assert.equal(FAVICON_SVG, portal);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { matchRoute, routeMatches } from "./routes.js";

// The cases the Go matcher (models/x402) is tested with: the portal decides
// which routes are reachable with Go, the edge matches with this file.
const shared = JSON.parse(readFileSync(new URL("../../models/x402/testdata/route_cases.json", import.meta.url), "utf8"));

test("route_cases.json: every case", () => {
  assert.ok(shared.cases.length > 50, "the shared file lost its cases");
  for (const c of shared.cases) {
    const got = routeMatches({ method: c.pattern_method, path: c.pattern }, c.method, c.path);
    assert.equal(got, c.match, `${c.pattern_method || "*"} ${c.pattern} vs ${c.method} ${c.path}: ${c.why}`);
  }
});

test("route_cases.json: invalid patterns match nothing", () => {
  for (const c of shared.invalid_patterns) {
    for (const path of ["/", "/a", "/a/b", "/api/x/x", "/a/x:y", "/weather"]) {
      assert.equal(routeMatches({ method: c.pattern_method, path: c.pattern }, "GET", path), false, `${c.pattern}: ${c.why}`);
    }
  }
});

test("first match wins", () => {
  const routes = [
    { method: "GET", path: "/a/:id" },
    { method: "", path: "/a/*" },
  ];
  assert.equal(matchRoute(routes, "GET", "/a/1"), routes[0]);
  assert.equal(matchRoute(routes, "POST", "/a/1"), routes[1]);
  assert.equal(matchRoute(routes, "GET", "/b"), null);
  assert.equal(matchRoute(null, "GET", "/a"), null);
});

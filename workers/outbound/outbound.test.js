import { test } from "node:test";
import assert from "node:assert/strict";
import { hostAllowed, parseAllow } from "./outbound.js";

test("hostAllowed", () => {
  const allow = ["api.example.com", "*.example.org", "LOCAL.test:8080"];
  const cases = [
    ["api.example.com", true],
    ["API.Example.COM:443", true],
    ["api.example.com.", true],
    ["x.api.example.com", false],
    ["example.com", false],
    ["example.org", false],
    ["a.example.org", true],
    ["a.b.example.org", true],
    ["evilexample.org", false],
    ["local.test", true],
    ["", false],
  ];
  for (const [h, want] of cases) assert.equal(hostAllowed(h, allow), want, h);
});

test("parseAllow", () => {
  assert.deepEqual(parseAllow('["a.com"]'), ["a.com"]);
  assert.deepEqual(parseAllow("not json"), []);
  assert.deepEqual(parseAllow(""), []);
  assert.deepEqual(parseAllow(undefined), []);
});

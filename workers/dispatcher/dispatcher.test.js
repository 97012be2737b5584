import { test } from "node:test";
import assert from "node:assert/strict";
import { resolveApp, isSlug, splitURL } from "./resolve.js";
import { matchRoute } from "./routes.js";
import { ConfigCache } from "./config.js";
import { sha256Hex, presentedKey } from "./access.js";
import { dispatchErrorResponse } from "./errors.js";

test("resolveApp", () => {
  const cases = [
    ["hello.localhost", "/x", { slug: "hello", path: "/x", via: "host" }],
    ["HELLO.LocalHost:8787", "/x", { slug: "hello", path: "/x", via: "host" }],
    ["hello.localhost.", "/x", { slug: "hello", path: "/x", via: "host" }],
    ["hello.localhost.:8787", "/", { slug: "hello", path: "/", via: "host" }],
    ["xn--bcher-kva.localhost", "/", { slug: "xn--bcher-kva", path: "/", via: "host" }],
    ["127.0.0.1:8787", "/hello/weather", { slug: "hello", path: "/weather", via: "path" }],
    ["127.0.0.1:8787", "/hello", { slug: "hello", path: "/", via: "path" }],
    ["127.0.0.1:8787", "/hello/", { slug: "hello", path: "/", via: "path" }],
    ["127.0.0.1:8787", "//hello/a", { slug: "hello", path: "/a", via: "path" }],
    ["127.0.0.1:8787", "/HELLO/a//b", { slug: "hello", path: "/a//b", via: "path" }],
    ["127.0.0.1:8787", "/", { slug: null, path: "/", via: "path" }],
    ["127.0.0.1:8787", "/ab/x", { slug: null, path: "/ab/x", via: "path" }],
    ["127.0.0.1:8787", "/h%65llo/x", { slug: null, path: "/h%65llo/x", via: "path" }],
    ["a_b.localhost", "/hello/x", { slug: "hello", path: "/x", via: "path" }],
    ["deep.hello.localhost", "/", { slug: null, path: "/", via: "path" }],
    ["localhost", "/hello", { slug: "hello", path: "/", via: "path" }],
    ["[::1]:8787", "/hello", { slug: "hello", path: "/", via: "path" }],
  ];
  for (const [host, path, want] of cases) {
    assert.deepEqual(resolveApp(host, path, "localhost"), want, host + " " + path);
  }
});

test("isSlug", () => {
  for (const [s, ok] of [["abc", true], ["a-1", true], ["ab", false], ["1ab", false], ["a".repeat(32), true], ["a".repeat(33), false], ["Abc", false]]) {
    assert.equal(isSlug(s), ok, s);
  }
});

test("matchRoute", () => {
  const routes = [
    { method: "GET", path: "/weather", access: "x402" },
    { method: "", path: "/users/:id", access: "api_key" },
    { path: "/items/[id]/raw", access: "public" },
    { method: "POST", path: "/api/*", access: "x402" },
  ];
  const cases = [
    ["GET", "/weather", 0],
    ["get", "/Weather/", 0],
    ["POST", "/weather", null],
    ["DELETE", "/users/42", 1],
    ["GET", "/users/42/x", null],
    ["GET", "/items/7/raw", 2],
    ["POST", "/api", 3],
    ["POST", "/api/a/b", 3],
    ["POST", "/apix", null],
  ];
  for (const [m, p, want] of cases) {
    const r = matchRoute(routes, m, p);
    assert.equal(r === null ? null : routes.indexOf(r), want, m + " " + p);
  }
});

test("ConfigCache caches hits and misses", async () => {
  let reads = 0;
  const kv = { get: async (k) => (reads++, k === "app:hello" ? { slug: "hello" } : null) };
  const c = new ConfigCache();
  assert.deepEqual(await c.get(kv, "hello", 5000, 1000), { slug: "hello" });
  await c.get(kv, "hello", 5000, 2000);
  assert.equal(reads, 1);
  await c.get(kv, "hello", 5000, 7000);
  assert.equal(reads, 2);
  assert.equal(await c.get(kv, "nope", 5000, 1000), null);
  await c.get(kv, "nope", 5000, 2500);
  assert.equal(reads, 3);
  await c.get(kv, "nope", 5000, 3500); // misses live shorter
  assert.equal(reads, 4);
  await c.get(kv, "hello", 0, 7001); // ttl 0 disables caching
  assert.equal(reads, 5);
});

test("api key helpers", async () => {
  assert.equal(await sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert.equal(presentedKey(new Request("http://x/", { headers: { authorization: "Bearer k1" } })), "k1");
  assert.equal(presentedKey(new Request("http://x/", { headers: { "x-api-key": "k2", authorization: "Bearer k1" } })), "k2");
  assert.equal(presentedKey(new Request("http://x/")), "");
});

test("dispatchErrorResponse", async () => {
  const cases = [
    ["Worker not found.", 404, "app_not_deployed"],
    ["Worker exceeded CPU time limit.", 503, "cpu_limit_exceeded"],
    ["Too many subrequests by single Worker invocation.", 429, "subrequest_limit_exceeded"],
    ["secret internals at /x.js:1", 500, "worker_exception"],
  ];
  for (const [msg, status, code] of cases) {
    const r = dispatchErrorResponse(new Error(msg));
    assert.equal(r.status, status);
    const body = await r.json();
    assert.equal(body.error.code, code);
    assert.ok(!body.error.message.includes("secret"));
  }
});

test("splitURL agrees with the URL parser or declines", () => {
  const hrefs = [
    "http://h.localhost:8787/hello/x",
    "http://127.0.0.1:8787/hello/x?a=1&b=%20",
    "http://127.0.0.1:8787//hello//x",
    "http://127.0.0.1:8787/HELLO/a:b@c;d=e,f+g$h!i*j(k)l~m_n-o",
    "http://127.0.0.1:8787/hello/x?",
    "http://127.0.0.1:8787/",
    "http://127.0.0.1:8787/a/../b",
    "http://127.0.0.1:8787/a/./b",
    "http://127.0.0.1:8787/a/%2e%2e/b",
    "http://127.0.0.1:8787/a/%2E%2E/b",
    "http://127.0.0.1:8787/a/b/..",
    "http://127.0.0.1:8787/x\\y",
    "http://127.0.0.1:8787/\u00e4",
    "http://127.0.0.1:8787/a%2fb",
    "http://127.0.0.1:8787/a b",
    "http://127.0.0.1:8787/a|b^c[d]",
    "http://127.0.0.1:8787/a#frag",
    "http://127.0.0.1:8787/file.txt",
    "http://127.0.0.1:8787",
  ];
  let fast = 0;
  for (const href of hrefs) {
    const got = splitURL(href);
    if (got === null) continue;
    fast++;
    const u = new URL(href);
    assert.equal(got.pathname, u.pathname, href);
    assert.equal(got.search, u.search, href);
  }
  // The plain ones take the fast path; everything else goes to the parser.
  assert.equal(fast, 6);
  for (const href of ["http://h/a/../b", "http://h/x\\y", "http://h/%41", "http://h/\u00e4", "http://h/a#f"]) {
    assert.equal(splitURL(href), null, href);
  }
});

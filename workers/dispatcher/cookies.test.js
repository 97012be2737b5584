import { test } from "node:test";
import assert from "node:assert/strict";
import { cookieName, isPortalCookie, stripPortalCookies } from "./cookies.js";

// dispatcher.js itself imports cloudflare:workers (the payment lock), which
// node cannot load: workers/runtime/cookie_test.go runs it in workerd.

test("cookieName reads the name browsers see", () => {
  const cases = [
    ["claw_csrf=x; Path=/", "claw_csrf"],
    ["  Claw_Session =v", "claw_session"],
    ["__Host-claw_session=v; Secure; Path=/", "claw_session"],
    ["__host-CLAW_CSRF=v", "claw_csrf"],
    ["__Secure-claw_csrf=v", "claw_csrf"],
    ["claw_csrf", "claw_csrf"],
    ["claw_csrf; Path=/", "claw_csrf"],
    ["a=claw_csrf=b", "a"],
    ["theme=dark; Expires=Wed, 21 Oct 2037 07:28:00 GMT", "theme"],
    ["x; y=claw_csrf", "x"],
  ];
  for (const [header, want] of cases) assert.equal(cookieName(header), want, header);
});

test("isPortalCookie: the portal's names only", () => {
  for (const [header, want] of [
    ["claw_session=a", true],
    ["CLAW_CSRF=a", true],
    ["__Host-claw_csrf=a", true],
    ["claw_sessions=a", false],
    ["my_claw_csrf=a", false],
    ["session=a", false],
    ["theme=claw_session", false],
  ]) {
    assert.equal(isPortalCookie(header), want, header);
  }
});

test("stripPortalCookies keeps the tenant's own cookies and copies only when it must", () => {
  const plain = new Response("ok", { headers: { "content-type": "text/plain" } });
  assert.equal(stripPortalCookies(plain, false), plain, "a response without Set-Cookie is passed on as it is");

  const own = new Response("ok");
  own.headers.append("set-cookie", "theme=dark; Path=/");
  assert.equal(stripPortalCookies(own, false), own, "a response with only the tenant's cookies is passed on as it is");

  const hostile = new Response("ok", { status: 201 });
  hostile.headers.append("set-cookie", "claw_csrf=planted; Path=/");
  hostile.headers.append("set-cookie", "theme=dark; Path=/");
  hostile.headers.append("set-cookie", "__Host-claw_session=planted; Path=/; Secure");
  hostile.headers.append("set-cookie", "Claw_Session=planted");
  hostile.headers.set("x-tenant", "1");
  const out = stripPortalCookies(hostile, false);
  assert.notEqual(out, hostile, "an immutable response is copied, not edited");
  assert.deepEqual(out.headers.getSetCookie(), ["theme=dark; Path=/"]);
  assert.equal(out.status, 201);
  assert.equal(out.headers.get("x-tenant"), "1");
  assert.equal(hostile.headers.getSetCookie().length, 4, "the original is untouched");

  const mutable = new Response("ok");
  mutable.headers.append("set-cookie", "claw_session=planted");
  assert.equal(stripPortalCookies(mutable, true), mutable, "a mutable response is edited in place");
  assert.deepEqual(mutable.headers.getSetCookie(), []);
});

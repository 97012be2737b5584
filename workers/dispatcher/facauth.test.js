import { test } from "node:test";
import assert from "node:assert/strict";
import { authHeaders, jwtFor, JWT_LIFETIME_S } from "./facauth.js";

test("facilitator auth: none, bearer, and a JWT per call", async () => {
  assert.deepEqual(await authHeaders(undefined, "POST", "https://f.example/verify"), {});
  assert.deepEqual(await authHeaders({ type: "none" }, "POST", "https://f.example/verify"), {});
  assert.deepEqual(await authHeaders({ type: "bearer", token: "t0k" }, "POST", "https://f.example/verify"), { authorization: "Bearer t0k" });
  const kp = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
  const jwk = await crypto.subtle.exportKey("jwk", kp.privateKey);
  const auth = { type: "jwt", alg: "EdDSA", kid: "k1", jwk };
  const a = await jwtFor(auth, "post", "https://api.example.com/x402/verify?x=1", 1_700_000_000_000);
  const b = await jwtFor(auth, "post", "https://api.example.com/x402/verify?x=1", 1_700_000_000_000);
  assert.notEqual(a, b, "every JWT has its own nonce");
  const [h, c] = a.split(".").slice(0, 2).map((p) => JSON.parse(Buffer.from(p, "base64url").toString()));
  assert.equal(h.alg, "EdDSA");
  assert.equal(h.kid, "k1");
  assert.match(h.nonce, /^[0-9a-f]{32}$/);
  assert.equal(c.uri, "POST api.example.com/x402/verify");
  assert.deepEqual(c.uris, [c.uri]);
  assert.equal(c.exp - c.nbf, JWT_LIFETIME_S);
  const [hp, cp, sig] = a.split(".");
  const ok = await crypto.subtle.verify({ name: "Ed25519" }, kp.publicKey, Buffer.from(sig, "base64url"), new TextEncoder().encode(hp + "." + cp));
  assert.equal(ok, true);
  await assert.rejects(authHeaders({ type: "magic" }, "POST", "https://f.example/"), /unknown type/);
});

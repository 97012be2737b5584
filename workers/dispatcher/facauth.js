// Authentication of the dispatcher's calls to an x402 facilitator. CDP (the
// facilitator for Base mainnet) and PayAI want a short-lived JWT on every
// call, signed with the operator's API key: Ed25519 ("EdDSA") or P-256
// ("ES256"). The dispatcher signs it here with WebCrypto, per call, with no
// npm dependency; the key is a secret binding of the dispatcher (a JWK the
// portal made from the operator's key), never in KV or a tenant's reach.
//
// auth is one of:
//   {type: "none"}
//   {type: "bearer", token}
//   {type: "jwt", alg: "EdDSA" | "ES256", kid, jwk, iss?, aud?}
// The JWT: header {alg, kid, typ: "JWT", nonce: 16 random bytes in hex};
// claims {iss (default "cdp"), sub: kid, aud?, nbf: now, exp: now + 120,
// uri: "METHOD host/path", uris: [the same]} — the claim set of CDP's own
// SDKs (older ones read uri, newer ones uris).
export const JWT_LIFETIME_S = 120;

const keys = new Map(); // JSON of the JWK → CryptoKey

function b64url(bytes) {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const encoder = new TextEncoder();
const b64urlJSON = (v) => b64url(encoder.encode(JSON.stringify(v)));

function algorithm(alg) {
  if (alg === "EdDSA") return { import: { name: "Ed25519" }, sign: { name: "Ed25519" } };
  if (alg === "ES256") return { import: { name: "ECDSA", namedCurve: "P-256" }, sign: { name: "ECDSA", hash: "SHA-256" } };
  throw new Error("facilitator auth: unsupported alg " + alg);
}

async function keyFor(auth) {
  const id = auth.alg + " " + JSON.stringify(auth.jwk);
  let k = keys.get(id);
  if (!k) {
    k = await crypto.subtle.importKey("jwk", auth.jwk, algorithm(auth.alg).import, false, ["sign"]);
    if (keys.size > 16) keys.clear();
    keys.set(id, k);
  }
  return k;
}

// jwtFor signs a JWT for one call (method and absolute URL).
export async function jwtFor(auth, method, url, nowMs = Date.now()) {
  const u = new URL(url);
  const now = Math.floor(nowMs / 1000);
  const nonce = new Uint8Array(16);
  crypto.getRandomValues(nonce);
  const header = { alg: auth.alg, kid: auth.kid, typ: "JWT", nonce: [...nonce].map((b) => b.toString(16).padStart(2, "0")).join("") };
  const uri = method.toUpperCase() + " " + u.host + u.pathname;
  const claims = { iss: auth.iss || "cdp", sub: auth.kid, nbf: now, exp: now + JWT_LIFETIME_S, uri, uris: [uri] };
  if (auth.aud) claims.aud = Array.isArray(auth.aud) ? auth.aud : [auth.aud];
  const signing = b64urlJSON(header) + "." + b64urlJSON(claims);
  // WebCrypto's ECDSA signature is r‖s (IEEE P1363), which is what JWS wants.
  const sig = new Uint8Array(await crypto.subtle.sign(algorithm(auth.alg).sign, await keyFor(auth), encoder.encode(signing)));
  return signing + "." + b64url(sig);
}

// authHeaders returns the headers a facilitator call carries ({} for none).
export async function authHeaders(auth, method, url, nowMs) {
  if (!auth || auth.type === "none" || !auth.type) return {};
  if (auth.type === "bearer") return { authorization: "Bearer " + auth.token };
  if (auth.type === "jwt") return { authorization: "Bearer " + (await jwtFor(auth, method, url, nowMs)) };
  throw new Error("facilitator auth: unknown type " + auth.type);
}

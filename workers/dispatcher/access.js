import { jsonError } from "./errors.js";

// api_key access: the consumer sends the key in X-API-Key or as a bearer
// token; the config holds only sha256 hex digests, so a leaked config
// document does not leak keys.
export function presentedKey(request) {
  const k = request.headers.get("x-api-key");
  if (k) return k.trim();
  const auth = request.headers.get("authorization") || "";
  const m = /^bearer\s+(.+)$/i.exec(auth);
  return m ? m[1].trim() : "";
}

export async function sha256Hex(s) {
  const buf = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s));
  let out = "";
  for (const b of new Uint8Array(buf)) out += b.toString(16).padStart(2, "0");
  return out;
}

// Returns null when the request may proceed, otherwise the response. out,
// when given, gets the key's hash (keyHash): the caller of its limits.
export async function checkApiKey(request, cfg, out) {
  const key = presentedKey(request);
  if (!key) {
    return jsonError(401, "api_key_required", "This route needs an API key in X-API-Key or Authorization: Bearer.", {
      "www-authenticate": 'Bearer realm="402claw"',
    });
  }
  const hash = await sha256Hex(key);
  const hashes = Array.isArray(cfg.api_keys) ? cfg.api_keys : [];
  let ok = false;
  // Compare every entry without an early exit; the hashes are public-ish but
  // timing should not reveal which entry matched.
  for (const h of hashes) if (typeof h === "string" && h.toLowerCase() === hash) ok = true;
  if (!ok) return jsonError(403, "api_key_invalid", "The API key is not valid for this app.");
  if (out) out.keyHash = hash;
  return null;
}

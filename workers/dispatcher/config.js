// Per-isolate cache of app config documents (KV key "app:<slug>"). KV reads
// cost a round trip, and KV itself is eventually consistent for ~60 s at the
// edge, so a few seconds of extra staleness buys a lot. Misses are cached too
// so a flood of requests for an unknown app does not become a flood of reads.
export const DEFAULT_TTL_MS = 5000;
export const MISS_TTL_MS = 2000;
const MAX_ENTRIES = 5000;

export class ConfigCache {
  constructor() {
    this.entries = new Map();
    this.inflight = new Map();
  }

  // peek returns the cached config (or null for a cached miss) without a
  // promise, or undefined when KV must be read: the hit path of every
  // request then costs no microtask.
  peek(slug, ttlMs = DEFAULT_TTL_MS, now = Date.now()) {
    if (!(ttlMs > 0)) return undefined;
    const hit = this.entries.get(slug);
    return hit && hit.expires > now ? hit.cfg : undefined;
  }

  // key (optional) is the hex config key: documents whose digest does not
  // verify with it are refused (see readConfig).
  async get(kv, slug, ttlMs = DEFAULT_TTL_MS, now = Date.now(), key = undefined) {
    if (ttlMs > 0) {
      const hit = this.entries.get(slug);
      if (hit && hit.expires > now) return hit.cfg;
      // Concurrent cold requests for one app share one read.
      const pending = this.inflight.get(slug);
      if (pending) return pending;
    }
    const p = readConfig(kv, slug, key).then(
      (cfg) => {
        this.inflight.delete(slug);
        return this.store(slug, cfg, ttlMs, now);
      },
      (err) => {
        this.inflight.delete(slug);
        throw err;
      },
    );
    if (ttlMs > 0) this.inflight.set(slug, p);
    return p;
  }

  // refresh reads the document now, whatever is cached, and caches it: the
  // local runtime calls it when the portal has just rewritten the document,
  // so the next request sees the change without waiting for the TTL.
  async refresh(kv, slug, ttlMs = DEFAULT_TTL_MS, now = Date.now(), key = undefined) {
    return this.store(slug, await readConfig(kv, slug, key), ttlMs, now);
  }

  store(slug, cfg, ttlMs, now) {
    if (ttlMs > 0) {
      if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
      this.entries.set(slug, { cfg, expires: now + (cfg ? ttlMs : Math.min(ttlMs, MISS_TTL_MS)) });
    }
    return cfg;
  }
}

// ConfigForged is thrown for a document whose digest does not verify: it was
// not written by the portal (which alone holds the key), so it is not obeyed.
export class ConfigForged extends Error {}

// With key (the CONFIG_KEY secret, hex), a document counts only if its KV
// metadata carries {"sha256": HMAC-SHA256(key, DOC_PREFIX + value)} — what
// the portal writes (workers/deploy.go DocDigest). Whoever can write KV
// without the key (a leaked KV token, a bug elsewhere) can copy a digest but
// not make one for other bytes, so a forged document (another payTo, say)
// is refused instead of obeyed.
// configKey is the KV key of an app's config document, as the portal writes it
// (models/edgenames.go ConfigKey; both checked against models/testdata/edge_names.json).
export const CONFIG_KEY_PREFIX = "app:";
export function configKey(slug) {
  return CONFIG_KEY_PREFIX + slug;
}

export async function readConfig(kv, slug, key) {
  if (!kv) throw new Error("dispatcher: CONFIG KV binding missing");
  if (!key) {
    const cfg = await kv.get(configKey(slug), "json");
    if (!cfg || typeof cfg !== "object") return null;
    return cfg;
  }
  const { value, metadata } = await kv.getWithMetadata(configKey(slug), "text");
  if (value === null || value === undefined) return null;
  const digest = metadata && typeof metadata === "object" ? metadata.sha256 : null;
  if (typeof digest !== "string" || !(await verifyDigest(key, value, digest))) {
    throw new ConfigForged("config document of " + slug + " does not carry the portal's digest");
  }
  const cfg = JSON.parse(value);
  if (!cfg || typeof cfg !== "object") return null;
  return cfg;
}

export const DOC_PREFIX = "402claw config document\n";
const encoder = new TextEncoder();
const keys = new Map(); // hex → CryptoKey

function hexBytes(hex) {
  if (!/^(?:[0-9a-f]{2})+$/i.test(hex)) return null;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export async function verifyDigest(keyHex, value, digestHex) {
  const sig = hexBytes(digestHex);
  if (!sig || sig.length !== 32) return false;
  let k = keys.get(keyHex);
  if (!k) {
    const raw = hexBytes(keyHex);
    if (!raw) throw new Error("dispatcher: CONFIG_KEY is not hex");
    k = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    keys.set(keyHex, k);
  }
  // subtle.verify compares in constant time.
  return crypto.subtle.verify("HMAC", k, sig, encoder.encode(DOC_PREFIX + value));
}

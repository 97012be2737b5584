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

  async get(kv, slug, ttlMs = DEFAULT_TTL_MS, now = Date.now()) {
    if (ttlMs > 0) {
      const hit = this.entries.get(slug);
      if (hit && hit.expires > now) return hit.cfg;
      // Concurrent cold requests for one app share one read.
      const pending = this.inflight.get(slug);
      if (pending) return pending;
    }
    const p = readConfig(kv, slug).then(
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
  async refresh(kv, slug, ttlMs = DEFAULT_TTL_MS, now = Date.now()) {
    return this.store(slug, await readConfig(kv, slug), ttlMs, now);
  }

  store(slug, cfg, ttlMs, now) {
    if (ttlMs > 0) {
      if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
      this.entries.set(slug, { cfg, expires: now + (cfg ? ttlMs : Math.min(ttlMs, MISS_TTL_MS)) });
    }
    return cfg;
  }
}

export async function readConfig(kv, slug) {
  if (!kv) throw new Error("dispatcher: CONFIG KV binding missing");
  const cfg = await kv.get("app:" + slug, "json");
  if (!cfg || typeof cfg !== "object") return null;
  return cfg;
}

// The per-caller limits (limit.js has the Durable Object): the arithmetic
// and the dispatcher's side, without cloudflare:workers so that node can
// import and test it.
import { jsonError } from "./errors.js";

const DAY_MS = 86400 * 1000;

// The spend cap comes in atomic units of the route's asset ("25000");
// null when it is not a whole number.
export function atomicOf(v) {
  const s = String(v ?? "").trim();
  return /^\d{1,60}$/.test(s) ? BigInt(s) : null;
}

function monthKey(now) {
  const d = new Date(now);
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
}

function monthEnd(now) {
  const d = new Date(now);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

const ceilS = (ms) => Math.max(1, Math.ceil(ms / 1000));

// decide is the limiter's arithmetic, pure so that it can be tested without
// a Durable Object: it returns {ok, code, retryAfter, policies} and, when ok,
// has updated state. policies are {name, q, w, r, t} for the headers.
export function decide(state, limits, cost, now) {
  const policies = [];
  let refused = null; // {code, retryAfter}
  const refuse = (code, retryAfter) => {
    if (!refused || retryAfter > refused.retryAfter) refused = { code, retryAfter };
  };
  const updates = [];

  const perSecond = Number(limits.perSecond) || 0;
  if (perSecond > 0) {
    const cap = Number(limits.burst) > 0 ? Number(limits.burst) : perSecond;
    const tb = state.tb || { tokens: cap, at: now };
    const tokens = Math.min(cap, tb.tokens + ((now - tb.at) / 1000) * perSecond);
    const p = { name: "burst", q: cap, w: Math.max(1, Math.ceil(cap / perSecond)), r: Math.floor(tokens), t: 0 };
    if (tokens < 1) {
      p.r = 0;
      p.t = ceilS(((1 - tokens) / perSecond) * 1000);
      refuse("rate_limited", p.t);
    } else {
      p.r = Math.floor(tokens - 1);
      updates.push(() => (state.tb = { tokens: tokens - 1, at: now }));
    }
    policies.push(p);
  }

  const windows = [
    ["minute", Number(limits.perMinute) || 0, "rate_limited", Math.floor(now / 60000), 60, (now - (now % 60000)) + 60000],
    ["day", Number(limits.daily) || 0, "quota_exhausted", Math.floor(now / DAY_MS), 86400, (now - (now % DAY_MS)) + DAY_MS],
    ["month", Number(limits.monthly) || 0, "quota_exhausted", monthKey(now), 31 * 86400, monthEnd(now)],
  ];
  for (const [name, q, code, key, w, end] of windows) {
    if (!(q > 0)) continue;
    const cur = state[name] && state[name].k === key ? state[name].n : 0;
    const t = ceilS(end - now);
    const p = { name, q, w, r: Math.max(0, q - cur - 1), t };
    if (cur >= q) {
      p.r = 0;
      refuse(code, t);
    } else {
      updates.push(() => (state[name] = { k: key, n: cur + 1 }));
    }
    policies.push(p);
  }

  const cap = limits.dailySpend ? atomicOf(limits.dailySpend) : null;
  if (cap !== null && cost) {
    const key = Math.floor(now / DAY_MS);
    const spent = state.spend && state.spend.k === key ? BigInt(state.spend.n) : 0n;
    const c = BigInt(cost);
    if (spent + c > cap) refuse("spend_cap_reached", ceilS((now - (now % DAY_MS)) + DAY_MS - now));
    else updates.push(() => (state.spend = { k: key, n: String(spent + c) }));
  }

  if (refused) return { ok: false, code: refused.code, retryAfter: refused.retryAfter, policies };
  for (const u of updates) u();
  return { ok: true, policies };
}

// ---- the dispatcher's side --------------------------------------------------

// The limits that take a caller's request (challengesPerMinute is separate).
export function callerLimits(route) {
  const l = route && route.limits;
  if (!l || typeof l !== "object") return null;
  return l.perSecond > 0 || l.perMinute > 0 || l.daily > 0 || l.monthly > 0 || l.dailySpend ? l : null;
}

export function clientIP(request) {
  // Set by Cloudflare's edge (a client's own value is replaced there).
  return request.headers.get("cf-connecting-ip") || "unknown";
}

// take asks the caller's limiter. It resolves to null when the limiter is
// unavailable (no binding, or the call failed): limits then fail open, and
// the failure is logged.
export async function take(env, app, route, caller, limits, cost) {
  const ns = env.LIMIT;
  if (!ns) return null;
  try {
    const key = app + "|" + (route.method || "*") + " " + route.path + "|" + caller;
    return await ns.get(ns.idFromName(key)).take(limits, cost || "0");
  } catch (err) {
    console.error("limiter " + app + ": " + ((err && err.message) || err));
    return null;
  }
}

// The IETF draft headers (draft-ietf-httpapi-ratelimit-headers):
// RateLimit-Policy: "minute";q=3;w=60   RateLimit: "minute";r=2;t=41
export function limitHeaders(d) {
  const h = {};
  if (!d || !d.policies.length) return h;
  h["ratelimit-policy"] = d.policies.map((p) => '"' + p.name + '";q=' + p.q + ";w=" + p.w).join(", ");
  h["ratelimit"] = d.policies.map((p) => '"' + p.name + '";r=' + p.r + ";t=" + p.t).join(", ");
  return h;
}

const MESSAGES = {
  rate_limited: "Too many requests from this caller on this route; retry after the number of seconds in Retry-After.",
  quota_exhausted: "This caller's quota on this route is used up; it renews after the number of seconds in Retry-After.",
  spend_cap_reached: "This payer reached the route's daily spend cap; nothing was charged. It renews after the number of seconds in Retry-After.",
};

// refusal is the 429 for a decision that is not ok.
export function refusal(d) {
  return jsonError(429, d.code, MESSAGES[d.code] || MESSAGES.rate_limited, { "retry-after": String(d.retryAfter), ...limitHeaders(d) });
}

// withLimitHeaders adds the remaining quota to a successful answer whose
// headers are ours to change.
export function withLimitHeaders(response, d) {
  if (!d || !d.policies.length) return response;
  const h = limitHeaders(d);
  try {
    for (const k in h) response.headers.set(k, h[k]);
  } catch {
    // Immutable headers: the answer goes without them.
  }
  return response;
}

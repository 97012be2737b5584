// The per-caller limits: the arithmetic, and the dispatcher's side (rate
// windows in the isolate's memory, quotas in limit.js's Durable Object),
// without cloudflare:workers so that node can import and test it.
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

// refund gives back what decide took from the rate windows (token bucket
// and minute) for a request that a later check refused, so that a refused
// request uses no quota anywhere. now is the time decide counted it at.
export function refund(state, limits, now) {
  const perSecond = Number(limits.perSecond) || 0;
  if (perSecond > 0 && state.tb) {
    const cap = Number(limits.burst) > 0 ? Number(limits.burst) : perSecond;
    state.tb = { tokens: Math.min(cap, state.tb.tokens + 1), at: state.tb.at };
  }
  if (Number(limits.perMinute) > 0 && state.minute && state.minute.k === Math.floor(now / 60000)) {
    state.minute = { k: state.minute.k, n: Math.max(0, state.minute.n - 1) };
  }
}

// A route's limits split in two: the rate windows (perSecond with burst,
// perMinute), counted in this isolate's memory, and the quotas (daily,
// monthly, dailySpend), counted in the caller's Durable Object. Cached per
// limits object (a route's limits live as long as its cached config).
const splits = new WeakMap();

function split(limits) {
  let s = splits.get(limits);
  if (s) return s;
  const num = (v) => Number(v) || 0;
  s = { rate: null, durable: null };
  if (num(limits.perSecond) > 0 || num(limits.perMinute) > 0) {
    s.rate = { perSecond: num(limits.perSecond), burst: num(limits.burst), perMinute: num(limits.perMinute) };
  }
  if (num(limits.daily) > 0 || num(limits.monthly) > 0 || limits.dailySpend) {
    s.durable = { daily: num(limits.daily), monthly: num(limits.monthly), dailySpend: limits.dailySpend || "" };
  }
  splits.set(limits, s);
  return s;
}

// The rate windows of this isolate: app|route|caller → decide's state plus
// idle, the time from which the state equals a fresh one (the minute window
// is over and the bucket is full again), so it can be forgotten without
// granting anything. At MAX_WINDOWS the idle ones are dropped, then, if
// still full, the least recently created (those callers start afresh).
export const MAX_WINDOWS = 100000;
const windows = new Map();

function windowOf(key, now) {
  let s = windows.get(key);
  if (s) return s;
  if (windows.size >= MAX_WINDOWS) {
    for (const [k, w] of windows) if (w.idle <= now) windows.delete(k);
    let over = windows.size - Math.floor(MAX_WINDOWS * 0.9);
    for (const k of windows.keys()) {
      if (over-- <= 0) break;
      windows.delete(k);
    }
  }
  s = { idle: 0 };
  windows.set(key, s);
  return s;
}

function idleAt(state, rate, now) {
  let t = rate.perMinute > 0 ? now - (now % 60000) + 60000 : now;
  if (state.tb && rate.perSecond > 0) {
    const cap = rate.burst > 0 ? rate.burst : rate.perSecond;
    t = Math.max(t, state.tb.at + ((cap - state.tb.tokens) / rate.perSecond) * 1000);
  }
  return t;
}

// windowCount is how many callers' rate windows this isolate holds (tests).
export function windowCount() {
  return windows.size;
}

// take counts one request of a caller (cost: atomic units of the route's
// price on x402 routes, else "0") and resolves to decide's answer {ok, code,
// retryAfter, policies}, or to null when no limit could be asked.
//
// The rate windows are counted here, in the dispatcher's isolate, with no
// await between the check and the update: no round trip, no storage write.
// Only a route with a daily or monthly quota or a spend cap then asks the
// caller's CallerLimiter object (limit.js), which writes its state through
// to storage. A request refused by a rate window never reaches the object;
// one the object refuses is given back to the rate windows.
//
// Accuracy: the rate windows are exact within an isolate (of N concurrent
// requests exactly the allowed number pass) and start empty when the
// isolate does (a restart, a deploy of the edge), so a caller may get one
// window's allowance again after a restart. Where the edge runs in several
// isolates (Cloudflare runs the dispatcher on many machines) each enforces
// the rate on its own: a caller whose requests reach k isolates can get up to
// k times the rate. The quotas and spend caps are exact across isolates and
// restarts. When the object cannot be reached the quotas fail open (logged).
export async function take(env, app, route, caller, limits, cost) {
  const { rate, durable } = split(limits || {});
  if (!rate && !durable) return null;
  const key = app + "|" + (route.method || "*") + " " + route.path + "|" + caller;
  const now = Date.now();
  let d = null;
  let state = null;
  if (rate) {
    state = windowOf(key, now);
    d = decide(state, rate, "0", now);
    state.idle = idleAt(state, rate, now);
    if (!d.ok) return d;
  }
  if (!durable) return d;
  const ns = env.LIMIT;
  let q = null;
  if (ns) {
    try {
      q = await ns.get(ns.idFromName(key)).take(durable, cost || "0");
    } catch (err) {
      console.error("limiter " + app + ": " + ((err && err.message) || err));
    }
  }
  if (!q) return d;
  if (!d) return q;
  if (q.ok) return { ok: true, policies: d.policies.concat(q.policies) };
  refund(state, rate, now);
  for (const p of d.policies) p.r = Math.min(p.q, p.r + 1);
  return { ok: false, code: q.code, retryAfter: q.retryAfter, policies: d.policies.concat(q.policies) };
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

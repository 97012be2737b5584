// Calls to x402 facilitators: which facilitator settles a network, how the
// dispatcher authenticates to it, and settle with the protocol's
// settlement_pending handling. Shared by the paywall (x402.js) and the
// PaymentLock (lock.js), whose alarm finishes pending settlements.
//
// Facilitators per network: env.FACILITATORS (plain text, JSON) lists
//   [{"url": "https://…", "networks": ["eip155:8453", …]}, …]
// and the first entry listing a network settles it; a network none lists
// goes to env.FACILITATOR_URL (default x402.org). The credentials are the
// secret binding env.FACILITATOR_AUTH (JSON: url → auth, see facauth.js), so
// a key never sits in KV, in a config document or in a tenant's reach.
// env.FACILITATOR, when bound, is a service binding standing for
// FACILITATOR_URL (the local edge mounts the dev facilitator that way).
import { authHeaders } from "./facauth.js";

export const DEFAULT_FACILITATOR_URL = "https://x402.org/facilitator";
export const FACILITATOR_TIMEOUT_MS = 15000;
export const PENDING = "settlement_pending";

const trim = (u) => String(u).replace(/\/+$/, "");

// Parsed per raw binding value: the env strings do not change in an isolate's life.
let parsedFor = { list: undefined, auth: undefined, fallback: undefined, value: null };

function table(env) {
  const list = env.FACILITATORS;
  const auth = env.FACILITATOR_AUTH;
  const fallback = env.FACILITATOR_URL || DEFAULT_FACILITATOR_URL;
  if (parsedFor.list === list && parsedFor.auth === auth && parsedFor.fallback === fallback && parsedFor.value) return parsedFor.value;
  const byNetwork = new Map();
  let auths = {};
  try {
    const entries = list ? JSON.parse(list) : [];
    for (const e of Array.isArray(entries) ? entries : []) {
      if (!e || typeof e.url !== "string") continue;
      for (const n of Array.isArray(e.networks) ? e.networks : []) if (!byNetwork.has(n)) byNetwork.set(n, trim(e.url));
    }
  } catch {
    console.error("dispatcher: FACILITATORS is not JSON; every network goes to " + fallback);
  }
  try {
    const a = auth ? JSON.parse(auth) : {};
    for (const [u, v] of Object.entries(a && typeof a === "object" ? a : {})) auths[trim(u)] = v;
  } catch {
    console.error("dispatcher: FACILITATOR_AUTH is not JSON; facilitator calls go without credentials");
    auths = {};
  }
  const value = { byNetwork, auths, fallback: trim(fallback) };
  parsedFor = { list, auth, fallback, value };
  return value;
}

// facilitatorFor returns {base, auth} for a network.
export function facilitatorFor(env, network) {
  const t = table(env);
  const base = t.byNetwork.get(network) || t.fallback;
  return { base, auth: t.auths[base] };
}

function doFetch(env, base, url, init) {
  return env.FACILITATOR && base === table(env).fallback ? env.FACILITATOR.fetch(url, init) : fetch(url, init);
}

// callFacilitator POSTs body to the network's facilitator. It returns
// {json, text} or {down: reason}: any 5xx, an unreadable answer or no answer
// at all means the facilitator could not decide (facilitator_error,
// facilitator_bad_response, facilitator_unreachable, facilitator_timeout); a
// 4xx with JSON is a decision (some facilitators answer an invalid payment
// with 400).
export async function callFacilitator(env, network, path, body, timeoutMs = FACILITATOR_TIMEOUT_MS) {
  const { base, auth } = facilitatorFor(env, network);
  const url = base + path;
  let r;
  try {
    const headers = { "content-type": "application/json", ...(await authHeaders(auth, "POST", url)) };
    r = await doFetch(env, base, url, { method: "POST", headers, body, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const name = err && err.name;
    return { down: name === "TimeoutError" || name === "AbortError" ? "facilitator_timeout" : "facilitator_unreachable" };
  }
  if (r.status >= 500) {
    await r.body?.cancel();
    return { down: "facilitator_error" };
  }
  if (r.status === 401 || r.status === 403) {
    // The facilitator refused the platform's credential (a revoked key, a
    // JWT it finds stale): the operator's problem, never the payer's. Like a
    // facilitator that is down, it decides nothing: 503 before the tenant
    // ran, the answer withheld and nothing charged after. The log line names
    // the facilitator, never the credential.
    await r.body?.cancel();
    unauthorizedOnce(base, r.status);
    return { down: "facilitator_unauthorized" };
  }
  try {
    const text = await r.text();
    const json = JSON.parse(text);
    if (!json || typeof json !== "object") return { down: "facilitator_bad_response" };
    return { json, text };
  } catch {
    return { down: "facilitator_bad_response" };
  }
}

// One log line per facilitator and minute: a refused credential fails every
// paid call until the operator fixes it.
const unauthorizedLogged = new Map();
function unauthorizedOnce(base, status) {
  const now = Date.now();
  if ((unauthorizedLogged.get(base) || 0) > now - 60000) return;
  unauthorizedLogged.set(base, now);
  console.error("facilitator " + base + " refused the platform's credential (HTTP " + status + "); paid calls answer 503 until the operator fixes it in Admin → Facilitators");
}

// isPending: broadcast, not yet confirmed (x402 issue #1062). Only an answer
// with a transaction counts, as in the official middleware.
export function isPending(s) {
  return !!s && !s.down && s.json.success !== true && s.json.errorReason === PENDING && !!s.json.transaction;
}

// settleOnce settles like the official middleware's settleWithPendingRetry:
// a pending answer is retried exactly once, at once, with the identical body
// (never a new authorization); any other outcome is final.
export async function settleOnce(env, network, body) {
  const s = await callFacilitator(env, network, "/settle", body);
  if (!isPending(s)) return s;
  const again = await callFacilitator(env, network, "/settle", body);
  // A retry that could not reach the facilitator leaves the broadcast pending.
  return again.down ? s : again;
}

// probeFacilitators asks every configured facilitator for /supported.
export async function probeFacilitators(env, timeoutMs = 3000) {
  const t = table(env);
  const bases = [t.fallback, ...new Set(t.byNetwork.values())].filter((b, i, all) => all.indexOf(b) === i);
  return Promise.all(
    bases.map(async (base) => {
      const url = base + "/supported";
      try {
        const headers = await authHeaders(t.auths[base], "GET", url);
        const r = await doFetch(env, base, url, { headers, signal: AbortSignal.timeout(timeoutMs) });
        const text = await r.text();
        if (!r.ok) return { url, ok: false, error: "HTTP " + r.status };
        return { url, ok: true, supported: JSON.parse(text) };
      } catch (err) {
        return { url, ok: false, error: String((err && err.message) || err) };
      }
    }),
  );
}

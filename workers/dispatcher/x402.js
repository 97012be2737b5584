// The x402 v2 paywall (protocol v2, behaviour of the official @x402/hono
// middleware). Everything that depends only on the
// route is computed once per config version; a request costs one base64
// decode, one JSON.parse, a field-by-field compare, the facilitator calls and
// one Durable Object call. Signatures are the facilitator's business: the
// dispatcher does no crypto.
import { jsonError, tagErrorCode } from "./errors.js";
import { EXPOSE_HEADERS } from "./cors.js";
import { settlementRecord } from "./outbox.js";
import { callFacilitator, settleOnce, isPending, probeFacilitators, PENDING } from "./settle.js";
import { docsURL, portalBase } from "./docs.js";
import { callerLimits, take, refusal as limitRefusal, withLimitHeaders } from "./quota.js";
import { PAYMENT_IDENTIFIER, PAYMENT_IDENTIFIER_DECLARATION, paymentIdentifier, idempotent } from "./idem.js";
import { fnv1a } from "./hash.js";

export { DEFAULT_FACILITATOR_URL } from "./settle.js";
export const NO_MATCH = "No matching payment requirements";
const RETRY_AFTER_S = "5";
// A payer whose optimistic settlement failed is refused on the app's
// optimistic routes this long, unless the edge's OPTIMISTIC_REFUSE_S
// (the operator's CLAW_OPTIMISTIC_REFUSE) or route.refuse_s says otherwise.
export const DEFAULT_REFUSE_S = 3600;
const REQ_FIELDS = ["scheme", "network", "amount", "asset", "payTo", "maxTimeoutSeconds"];
const HEX_ADDR = /^0x[0-9a-fA-F]{40}$/;
const HEX_NONCE = /^0x[0-9a-fA-F]{64}$/;

// ---- base64 ---------------------------------------------------------------

function b64(s) {
  // btoa takes Latin-1 only; JSON from us and from facilitators is ASCII in
  // practice, so the TextEncoder path is the rare one.
  if (!/[^\x00-\x7f]/.test(s)) return btoa(s);
  let bin = "";
  for (const b of new TextEncoder().encode(s)) bin += String.fromCharCode(b);
  return btoa(bin);
}

function unb64(s) {
  const bin = atob(s);
  if (!/[^\x00-\x7f]/.test(bin)) return bin;
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
}

// JSON allows whitespace between tokens, so a document split into parts that
// are each padded to a multiple of 3 bytes base64-encodes part by part: the
// fixed parts of a challenge are encoded once, only the URL per request.
const encoder = new TextEncoder();
function pad3(s) {
  // A URL or JSON text is ASCII nearly always: then characters are bytes.
  const n = (/[^\x00-\x7f]/.test(s) ? encoder.encode(s).length : s.length) % 3;
  return n === 0 ? s : s + "  ".slice(0, 3 - n);
}

// reportURL is the portal's abuse form for an app: REPORT_URL if set, else
// the portal's public address (portalBase) + /report; null when neither is known.
export function reportURL(env, slug) {
  let base = env.REPORT_URL;
  if (!base) {
    const portal = portalBase(env);
    base = portal ? portal + "/report" : null;
  }
  return base && slug ? base + "?app=" + encodeURIComponent(slug) : null;
}

function escapeHTML(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// "10000" atomic units at 6 decimals → "0.01", with string arithmetic (the
// same as models/x402 FormatAmount; testdata/config_doc.json checks the two).
export function formatAmount(atomic, decimals) {
  const s = String(atomic).replace(/^0+/, "") || "0";
  const whole = s.length > decimals ? s.slice(0, s.length - decimals) : "0";
  const frac = s.padStart(decimals, "0").slice(-decimals).replace(/0+$/, "");
  return frac ? whole + "." + frac : whole;
}

// What each settlement mode means for the payer (the 402 page says it).
export const MODE_NOTES = {
  before: "The payment is settled before the request runs: you are charged even if the app then fails to answer.",
  after: "The payment is settled only after the app has answered successfully (status below 400): if it fails, you are not charged and get no answer body.",
  optimistic: "The payment is checked, the app answers at once, and the payment is settled right after: if it then fails to settle (say the funds moved), your address is refused on this app's instant routes for a while.",
};

// refuseSeconds reads a refusal duration (route.refuse_s, the binding
// OPTIMISTIC_REFUSE_S): null when unset or not a number ≥ 0.
function refuseSeconds(v) {
  if (v === undefined || v === null || v === "") return null;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? Math.min(Math.floor(n), 30 * 86400) : null;
}

// ---- per-route preparation -------------------------------------------------

class Prepared {
  constructor(route) {
    const req = route.requirements;
    this.ok = !!req && typeof req === "object" && REQ_FIELDS.every((k) => req[k] !== undefined && req[k] !== null);
    if (!this.ok) return;
    this.req = req;
    this.extra = req.extra && typeof req.extra === "object" ? req.extra : {};
    this.reqJSON = JSON.stringify(req);
    this.mode = route.settle === "before" || route.settle === "optimistic" ? route.settle : "after";
    this.refuseS = refuseSeconds(route.refuse_s); // null: the edge's OPTIMISTIC_REFUSE_S
    this.route = route;
    // How the page names the network and the amount comes with the document
    // (workers/deploy.go ConfigDisplay, from the portal's networks table).
    const d = route.display && typeof route.display === "object" ? route.display : {};
    this.networkName = typeof d.network_name === "string" && d.network_name ? d.network_name : req.network;
    this.decimals = Number.isInteger(d.decimals) && d.decimals >= 0 && d.decimals <= 36 ? d.decimals : null;
    this.limits = callerLimits(route);
    const res = route.resource || {};
    this.description = String(res.description || "");
    this.mimeType = String(res.mimeType || "");
    let tail = "";
    if (this.description) tail += ',"description":' + JSON.stringify(this.description);
    if (this.mimeType) tail += ',"mimeType":' + JSON.stringify(this.mimeType);
    // Bazaar service metadata and extensions come checked from the portal (workers/bazaar.go).
    if (res.serviceName) tail += ',"serviceName":' + JSON.stringify(String(res.serviceName));
    if (Array.isArray(res.tags) && res.tags.length) tail += ',"tags":' + JSON.stringify(res.tags.map(String));
    if (res.iconUrl) tail += ',"iconUrl":' + JSON.stringify(String(res.iconUrl));
    // Every priced route offers the payment-identifier extension (idem.js):
    // a client that retries with the same id gets the first answer again.
    const exts = { ...(route.extensions && typeof route.extensions === "object" ? route.extensions : {}), [PAYMENT_IDENTIFIER]: PAYMENT_IDENTIFIER_DECLARATION };
    const ext = ',"extensions":' + JSON.stringify(exts);
    this.suffix = tail + '},"accepts":[' + this.reqJSON + "]" + ext + "}";
    this.suffixB64 = b64(this.suffix);
    this.challenges = new Map(); // error message → {prefix, prefixB64}
    this.html = null;
  }

  challenge(error) {
    let c = this.challenges.get(error);
    if (!c) {
      const prefix = pad3('{"x402Version":2,"error":' + JSON.stringify(error) + ',"resource":{"url":');
      c = { prefix, prefixB64: b64(prefix) };
      // Facilitators choose the reasons; keep the cache bounded whatever they send.
      if (this.challenges.size < 32) this.challenges.set(error, c);
    }
    return c;
  }

  // The challenge as header value and as JSON text, for one request URL.
  paymentRequired(error, url) {
    const c = this.challenge(error);
    const u = pad3(JSON.stringify(url));
    return { header: c.prefixB64 + b64(u) + this.suffixB64, json: c.prefix + u + this.suffix };
  }

  page() {
    if (this.html) return this.html;
    const r = this.req;
    const net = this.networkName;
    // Without the decimals (a document older than its display facts) the
    // page states the atomic amount rather than guess a precision.
    const price = this.decimals === null ? r.amount + " atomic units of" : formatAmount(r.amount, this.decimals);
    const amount = this.decimals === null ? "" : " (" + escapeHTML(r.amount) + " atomic units)";
    const what = this.description ? escapeHTML(this.description) : "this resource";
    this.html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Payment required</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}
dt{font-weight:600;margin-top:.6rem}dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}
.note{color:#555;font-size:.9rem;margin-top:2rem}</style></head>
<body><h1>Payment required</h1>
<p>Access to ${what} costs <strong>${escapeHTML(price)} USDC</strong> per request on <strong>${escapeHTML(net)}</strong>, paid with the x402 protocol (version 2).</p>
<dl><dt>Amount</dt><dd>${escapeHTML(price)} USDC${amount}</dd>
<dt>Network</dt><dd>${escapeHTML(net)} (${escapeHTML(r.network)})</dd>
<dt>Pay to</dt><dd>${escapeHTML(r.payTo)}</dd>
<dt>Token contract</dt><dd>${escapeHTML(r.asset)}</dd>
<dt>Scheme</dt><dd>${escapeHTML(r.scheme)} (EIP-3009 transferWithAuthorization)</dd></dl>
<p>Call this URL with an x402 client, for example <code>@x402/fetch</code> with a wallet holding USDC on ${escapeHTML(net)}. The client reads the <code>PAYMENT-REQUIRED</code> header of this response, signs the payment and retries with a <code>PAYMENT-SIGNATURE</code> header; the receipt comes back in <code>PAYMENT-RESPONSE</code>.</p>
<p class="note">${MODE_NOTES[this.mode]}</p>
</body></html>`;
    return this.html;
  }

  // The reference deep-compares the client's "accepted" with its own
  // requirement: every field, except that "extra" may only hold ours.
  matches(acc) {
    if (!acc || typeof acc !== "object" || Array.isArray(acc)) return false;
    const req = this.req;
    for (const k of REQ_FIELDS) if (acc[k] !== req[k]) return false;
    for (const k in acc) {
      if (k === "extra") {
        const x = acc.extra;
        if (x === undefined || x === null) continue;
        if (typeof x !== "object" || Array.isArray(x)) return false;
        for (const e in x) if (x[e] !== this.extra[e]) return false;
      } else if (!REQ_FIELDS.includes(k)) {
        return false;
      }
    }
    return true;
  }
}

// Keyed by app, config version and route index so that a config document
// re-read from KV (the dispatcher's cache expires every few seconds) reuses
// the work; routes without a version are prepared once per route object.
const prepared = new Map();
const preparedByRoute = new WeakMap();

export function prepare(cfg, route) {
  // A cached config keeps its route objects: the common case is one lookup.
  let p = preparedByRoute.get(route);
  if (p) return p;
  if (cfg && cfg.config_version !== undefined && cfg.slug && Array.isArray(cfg.routes)) {
    const key = cfg.slug + "@" + cfg.config_version + "#" + cfg.routes.indexOf(route);
    p = prepared.get(key);
    if (!p) {
      p = new Prepared(route);
      if (prepared.size > 5000) prepared.clear();
      prepared.set(key, p);
    }
  } else {
    p = new Prepared(route);
  }
  preparedByRoute.set(route, p);
  return p;
}

// ---- responses -------------------------------------------------------------

function wantsHTML(request) {
  const a = request.headers.get("accept");
  return !!a && a.includes("text/html");
}

// A 402 carries the challenge in PAYMENT-REQUIRED (what x402 clients read);
// the JSON body has the platform's error shape plus the same challenge, so
// one parser serves every error of the edge.
function challengeResponse(request, p, code, error, receipt, report, docs) {
  const pr = p.paymentRequired(error, request.url);
  let body, type;
  if (wantsHTML(request)) {
    body = p.page();
    // The portal's public abuse form for this app (web/reports.go).
    // A listed app's docs page on the portal (docs.js).
    if (docs) body = body.replace("</body>", '<p class="note"><a href="' + escapeHTML(docs) + '">API docs</a>: every route, its price, examples and limits.</p>\n</body>');
    if (report) body = body.replace("</body>", '<p class="note"><a href="' + escapeHTML(report) + '" rel="nofollow">Report this API</a> to the platform (abuse, fraud, phishing).</p>\n</body>');
    type = "text/html; charset=utf-8";
  } else {
    body = '{"error":{"code":"' + code + '","message":' + JSON.stringify(error) + '},"paymentRequired":' + pr.json + "}";
    type = "application/json; charset=utf-8";
  }
  // One plain object: the headers cross into the runtime once.
  const h = {
    "access-control-allow-origin": "*",
    "access-control-expose-headers": EXPOSE_HEADERS,
    "cache-control": "no-store",
    "content-type": type,
    "payment-required": pr.header,
  };
  if (receipt) h["payment-response"] = receipt;
  return tagErrorCode(new Response(body, { status: 402, headers: h }), code);
}

// ---- facilitator -----------------------------------------------------------

// probeFacilitator asks the facilitators for /supported: the local runtime
// does it once after a start, so that an unreachable facilitator shows in
// the log at once (not on the first paid request) and the first payment finds
// the connection and the code paths of a real facilitator call warm. The
// answer is the first failing facilitator's, or the default one's.
export async function probeFacilitator(env, timeoutMs = 3000) {
  const all = await probeFacilitators(env, timeoutMs);
  const bad = all.find((r) => !r.ok);
  const r = bad || all[0];
  return { url: r.url, ok: r.ok, error: r.error, facilitators: all };
}

// A facilitator that cannot decide a verify leaves nothing done: 503 with
// Retry-After, the tenant not run, nothing charged.
function facilitatorDown(reason, ev, stage) {
  ev[stage] = reason;
  const what =
    reason === "facilitator_unreachable"
      ? "could not be reached"
      : reason === "facilitator_timeout"
        ? "did not answer in time"
        : reason === "facilitator_unauthorized"
          ? "refused the platform's credentials"
          : "failed to answer";
  return jsonError(503, reason, "The payment facilitator " + what + "; the request was not run and nothing was charged. Try again.", { "retry-after": RETRY_AFTER_S });
}

// ---- the lock --------------------------------------------------------------

// Payments are spread over a fixed set of PaymentLock objects: one object per
// payment would leave one storage per nonce behind, one object for all would
// serialize every payment of the platform. LOCK_SHARDS overrides the count
// (the local edge, one machine, uses 1: fewer storage commits).
const LOCK_SHARDS = 64;

// warmLocks makes sure every PaymentLock shard exists and has loaded its
// entries, so the first payment does not pay for creating it (the local
// runtime calls it at start).
export async function warmLocks(env) {
  const ns = env.LOCK;
  const shards = Number(env.LOCK_SHARDS) || LOCK_SHARDS;
  const all = [];
  for (let i = 0; i < shards; i++) all.push(ns.get(ns.idFromName("payments-" + i)).ready());
  await Promise.all(all);
}

function lockStub(env, key) {
  const ns = env.LOCK;
  const shards = Number(env.LOCK_SHARDS) || LOCK_SHARDS;
  return ns.get(ns.idFromName("payments-" + (fnv1a(key) % shards)));
}

// ---- the paywall -----------------------------------------------------------

// paywall handles a request to an x402 route. run(request, true) runs the
// tenant's worker and resolves to its (error-mapped) response, with headers
// the paywall may change. ev is the telemetry
// event; the paywall fills in the payment fields. Every answer that needs
// no I/O (no or a malformed payment) is returned as is, not as a promise:
// the common 402 then costs the runtime no promise to wait on.
export function paywall(request, route, cfg, env, ctx, ev, run) {
  const p = prepare(cfg, route);
  if (!p.ok) return jsonError(500, "bad_config", "The route is priced but its payment requirements are missing.");
  const r = p.req;
  ev.amount = r.amount;
  ev.network = r.network;

  const sig = request.headers.get("payment-signature");
  if (!sig) {
    ev.payment_required = true;
    if (request.headers.has("x-payment")) {
      ev.verify_result = "x402_v1_not_supported";
      return challengeResponse(request, p, "x402_version_not_supported", "x402 version 2 is required: send the payment in the PAYMENT-SIGNATURE header (X-PAYMENT is version 1)");
    }
    return challengeResponse(request, p, "payment_required", "Payment required", undefined, reportURL(env, cfg.slug), docsURL(env, cfg));
  }

  let text, payment;
  try {
    text = unb64(sig.trim());
    payment = JSON.parse(text);
  } catch {
    ev.payment_required = true;
    ev.verify_result = "invalid_payment_header";
    return challengeResponse(request, p, "invalid_payment_header", "Invalid payment: PAYMENT-SIGNATURE is not base64 JSON");
  }
  if (!payment || typeof payment !== "object" || payment.x402Version !== 2) {
    ev.payment_required = true;
    ev.verify_result = "invalid_x402_version";
    return challengeResponse(request, p, "x402_version_not_supported", "x402 version 2 is required");
  }
  if (!p.matches(payment.accepted)) {
    ev.payment_required = true;
    ev.verify_result = "no_matching_requirements";
    return challengeResponse(request, p, "no_matching_requirements", NO_MATCH);
  }
  const auth = payment.payload && payment.payload.authorization;
  if (!auth || !HEX_ADDR.test(auth.from) || !HEX_NONCE.test(auth.nonce)) {
    ev.payment_required = true;
    ev.verify_result = "invalid_exact_evm_payload";
    return challengeResponse(request, p, "payment_invalid", "invalid_exact_evm_payload");
  }
  ev.payer = auth.from;
  ev.nonce = auth.nonce;
  const pay = () => {
    if (!p.limits) return paid(request, p, text, auth, env, ctx, ev, run, null);
    const lim = {};
    return paid(request, p, text, auth, env, ctx, ev, run, lim).then((response) => (response.status < 400 ? withLimitHeaders(response, lim.d) : response));
  };
  const id = paymentIdentifier(payment);
  if (id === null) return pay();
  if (!env.LOCK) return jsonError(503, "payment_lock_unavailable", "Payments are not available on this edge (no payment lock).");
  return idempotent(request, payment, id, ev, env, (key) => lockStub(env, key), lockExpiry(auth.validBefore), pay);
}

// paid runs a well-formed payment: verify, lock, then the tenant and settle
// in the route's mode.
async function paid(request, p, text, auth, env, ctx, ev, run, lim) {
  const r = p.req;
  const net = r.network;
  // The decoded text is spliced in as it came: it parsed, and re-encoding
  // the payload would cost as much as parsing it did.
  const body = '{"x402Version":2,"paymentPayload":' + text + ',"paymentRequirements":' + p.reqJSON + "}";
  const optimistic = p.mode === "optimistic";
  // On optimistic routes the payer's standing is asked while the
  // facilitator verifies: it costs no time.
  const refuseKey = optimistic ? "refuse|" + ev.app + "|" + auth.from.toLowerCase() : "";
  const refusal = optimistic && env.LOCK ? lockStub(env, refuseKey).refused(refuseKey).catch(() => false) : null;
  const v = await callFacilitator(env, net, "/verify", body);
  if (v.down) return facilitatorDown(v.down, ev, "verify_result");
  if (v.json.isValid !== true) {
    ev.payment_required = true;
    ev.verify_result = String(v.json.invalidReason || "invalid_payment");
    return challengeResponse(request, p, "payment_invalid", ev.verify_result);
  }
  ev.verify_result = "valid";
  if (typeof v.json.payer === "string" && v.json.payer) ev.payer = v.json.payer;
  if (refusal && (await refusal)) {
    ev.payment_required = true;
    ev.verify_result = "payer_refused";
    return challengeResponse(request, p, "payer_refused", "payer_refused");
  }

  // The payer's limits (limit.js), counted with the verified payer and
  // before the lock and any settlement: a limited payer is never charged.
  if (lim) {
    const d = await take(env, ev.app, p.route, "payer:" + String(ev.payer).toLowerCase(), p.limits, r.amount);
    if (d && !d.ok) {
      ev.settlement_result = "not_settled_" + d.code;
      return limitRefusal(d);
    }
    lim.d = d;
  }

  // Between verify and settle the same payment verifies again: only the
  // request that takes the lock may run the tenant. The lock is kept once the
  // tenant ran (even unpaid, after a failure), so a payment runs code at most
  // once; it is released only when nothing ran.
  if (!env.LOCK) return jsonError(503, "payment_lock_unavailable", "Payments are not available on this edge (no payment lock).");
  const lockKey = net + "|" + String(r.asset).toLowerCase() + "|" + auth.from.toLowerCase() + "|" + auth.nonce.toLowerCase();
  const exp = lockExpiry(auth.validBefore);
  const stub = lockStub(env, lockKey);
  let won;
  try {
    won = await stub.acquire(lockKey, exp);
  } catch {
    return jsonError(503, "payment_lock_unavailable", "The payment could not be locked against replays; the request was not run and nothing was charged. Try again.", { "retry-after": RETRY_AFTER_S });
  }
  if (!won) {
    ev.payment_required = true;
    ev.verify_result = "payment_already_used";
    return challengeResponse(request, p, "payment_already_used", "invalid_exact_evm_nonce_already_used");
  }
  const later = (promise) => {
    const done = promise.catch((err) => console.error("payment " + net + " " + auth.nonce + ": " + ((err && err.message) || err)));
    if (ctx && typeof ctx.waitUntil === "function") ctx.waitUntil(done);
    return done;
  };
  const release = () => later(stub.release(lockKey));

  if (p.mode === "before") {
    const s = await settleOnce(env, net, body);
    if (s.down) {
      release();
      return facilitatorDown(s.down, ev, "settlement_result");
    }
    if (isPending(s)) {
      // Broadcast, not confirmed: the payer has paid unless the chain
      // refuses it; the lock finishes it in the background.
      const recorded = keepPending(stub, lockKey, ev, s, r.asset, body);
      const response = await run(request, true);
      await recorded;
      return withReceipt(response, s.text);
    }
    if (s.json.success !== true) {
      release();
      return settleFailed(request, p, s, ev);
    }
    settled(s, ev);
    // The record is written while the tenant runs: both finish before the
    // answer leaves.
    const recorded = record(stub, lockKey, ev, r.asset);
    const response = await run(request, true);
    await recorded;
    return withReceipt(response, s.text);
  }

  let response = await run(request, true);
  if (response.status >= 400) {
    // Never charge for a failure.
    ev.settlement_result = "not_settled_status_" + response.status;
    return response;
  }
  if (!optimistic) {
    // Settlement takes a block (seconds): hold the whole answer first, so a
    // body that breaks off while we wait, or before, is never paid for.
    const whole = await wholeAnswer(response);
    if (!whole) {
      ev.settlement_result = "not_settled_answer_broken";
      return jsonError(502, "answer_broken", "The app's answer broke off before it was complete, so the payment was not settled: nothing was charged. Sign a new payment to try again.");
    }
    response = whole;
  }

  if (optimistic) {
    // Answer now, settle after: the event leaves with "optimistic"; the
    // ledger gets the outcome from the lock's outbox.
    ev.settlement_result = "optimistic";
    const rec = { ...ev };
    const refuseS = p.refuseS ?? refuseSeconds(env.OPTIMISTIC_REFUSE_S) ?? DEFAULT_REFUSE_S;
    later(settleOptimistic(env, stub, lockKey, rec, r.asset, body, refuseKey, refuseS));
    const h = response.headers;
    h.set("cache-control", "private");
    return response;
  }

  const s = await settleOnce(env, net, body);
  if (isPending(s)) {
    await keepPending(stub, lockKey, ev, s, r.asset, body);
    return withReceipt(response, s.text);
  }
  if (s.down) {
    // As the official middleware: the payer is not charged, the answer is
    // withheld, and the ledger says why.
    await response.body?.cancel();
    ev.settlement_result = s.down;
    ev.payment_required = true;
    await record(stub, lockKey, ev, r.asset);
    return challengeResponse(request, p, "settlement_failed", s.down);
  }
  if (s.json.success !== true) {
    await response.body?.cancel();
    const answer = settleFailed(request, p, s, ev);
    await record(stub, lockKey, ev, r.asset);
    return answer;
  }
  settled(s, ev);
  await record(stub, lockKey, ev, r.asset);
  return withReceipt(response, s.text);
}

// ANSWER_HOLD_MAX bounds the answer held in memory before settling; a longer
// one is passed on as it comes once this much has arrived whole.
export const ANSWER_HOLD_MAX = 8 << 20;

// wholeAnswer reads the tenant's answer to its end and returns it as a new
// Response (status and headers kept), or null when the body failed midway.
// A Content-Length above ANSWER_HOLD_MAX, or a body that grows past it, is
// streamed as before: holding it would risk the isolate's memory.
export async function wholeAnswer(response, max = ANSWER_HOLD_MAX) {
  if (!response.body) return response;
  if (Number(response.headers.get("content-length")) > max) return response;
  const reader = response.body.getReader();
  const chunks = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
      if (size > max) {
        const rest = new ReadableStream({
          start(c) {
            for (const ch of chunks) c.enqueue(ch);
          },
          async pull(c) {
            const r = await reader.read();
            if (r.done) c.close();
            else c.enqueue(r.value);
          },
          cancel(reason) {
            return reader.cancel(reason);
          },
        });
        return new Response(rest, response);
      }
    }
  } catch {
    return null;
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const ch of chunks) {
    body.set(ch, at);
    at += ch.byteLength;
  }
  return new Response(body, response);
}

// keepPending records a settlement the facilitator answered
// settlement_pending (twice): the ledger shows it pending, and the lock's
// alarm settles the same payload again until it is final.
async function keepPending(stub, lockKey, ev, s, asset, body) {
  ev.payment_success = false;
  ev.settlement_result = PENDING;
  ev.transaction = String(s.json.transaction || "");
  ev.simulated = s.json.simulated === true;
  if (typeof stub.pendingSettlement !== "function") return;
  try {
    await stub.pendingSettlement(lockKey, settlementRecord(ev, asset), body);
  } catch (err) {
    console.error("payment ledger: pending settlement " + ev.network + " " + ev.nonce + " not kept: " + ((err && err.message) || err));
  }
}

// settleOptimistic settles after the answer has left. A refusal is a loss:
// recorded in the ledger, and the payer is refused on the app's optimistic
// routes for refuseS seconds.
async function settleOptimistic(env, stub, lockKey, ev, asset, body, refuseKey, refuseS) {
  const s = await settleOnce(env, ev.network, body);
  if (isPending(s)) return keepPending(stub, lockKey, ev, s, asset, body);
  if (!s.down && s.json.success === true) {
    settled(s, ev);
    return record(stub, lockKey, ev, asset);
  }
  ev.payment_success = false;
  ev.settlement_result = "optimistic_loss:" + (s.down || String(s.json.errorReason || "settlement_failed"));
  await record(stub, lockKey, ev, asset);
  if (refuseS > 0) {
    const until = Math.floor(Date.now() / 1000) + refuseS;
    await lockStub(env, refuseKey).refuse(refuseKey, until);
  }
}

// record keeps the settlement in the lock's outbox until the portal has it
// (outbox.js): the telemetry event alone may die with the isolate. It never
// fails the request: the payment is settled, so the payer gets the answer;
// the event still carries the payment to the ledger.
async function record(stub, lockKey, ev, asset) {
  // Every method of a Durable Object stub is callable; the local runtime's
  // warm-up fake (an in-memory lock) has no outbox.
  if (typeof stub.settled !== "function") return;
  try {
    await stub.settled(lockKey, settlementRecord(ev, asset));
  } catch (err) {
    console.error("payment ledger: settlement " + ev.network + " " + ev.nonce + " not recorded in the outbox: " + ((err && err.message) || err));
  }
}

function lockExpiry(validBefore) {
  const now = Math.floor(Date.now() / 1000);
  const n = Number(validBefore);
  // The facilitator refuses an authorization after validBefore, so the lock
  // entry can go then; bound it so a silly value cannot pin storage forever.
  if (!Number.isFinite(n) || n <= now) return now + 3600;
  return Math.min(n, now + 7 * 86400);
}

function settled(s, ev) {
  ev.payment_success = true;
  ev.settlement_result = "success";
  ev.transaction = String(s.json.transaction || "");
  if (typeof s.json.payer === "string" && s.json.payer) ev.payer = s.json.payer;
  if (typeof s.json.network === "string" && s.json.network) ev.network = s.json.network;
  // The dev facilitator marks its settlements: the ledger shows them as "simulated, no chain".
  ev.simulated = s.json.simulated === true;
}

function settleFailed(request, p, s, ev) {
  const reason = String(s.json.errorReason || "settlement_failed");
  ev.settlement_result = reason;
  ev.payment_required = true;
  return challengeResponse(request, p, "settlement_failed", reason, b64(s.text));
}

// response comes from run(…, true): its headers are ours to change.
function withReceipt(response, text) {
  const h = response.headers;
  h.set("payment-response", b64(text));
  h.set("cache-control", "private");
  return response;
}

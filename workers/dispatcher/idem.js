// Idempotent retries with x402's payment-identifier extension
// (specs/extensions/payment_identifier.md in the x402 repository; the
// official client side is @x402/extensions). Every priced route declares the
// extension in its 402; a client puts an id in the payment's
// extensions["payment-identifier"].info.id and reuses it when it retries:
//
//   new id                        → processed as usual, the answer is kept
//   same id, same payment/request → the first answer again: no second charge,
//                                   no "payment already used" 402
//   same id, different payment    → 409 payment_identifier_conflict
//   id not 16–128 of [A-Za-z0-9_-]→ 409 payment_identifier_invalid
//
// The id is scoped to the app. "The same payment" is the signed payload, the
// accepted requirements and the request's method and URL (a SHA-256 of them).
// Answers are kept by the PaymentLock shard of the id (lock.js idem*) for
// IDEM_WINDOW_S, or until the authorization expires if that is later; a
// body over IDEM_MAX_BODY is not kept (the retry then gets a 409 saying so).
// Only an answer the tenant produced is kept: a payment refused before the
// tenant ran leaves no entry, so the retry is processed afresh.
import { jsonError } from "./errors.js";

export const PAYMENT_IDENTIFIER = "payment-identifier";
export const IDEM_WINDOW_S = 3600;
export const IDEM_MAX_BODY = 64 * 1024;
const ID_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;
// Answer headers a replay carries again (the edge adds CORS and its own).
const KEPT_HEADERS = ["content-type", "content-language", "payment-response", "cache-control", "etag", "last-modified", "location"];

// What @x402/extensions' declarePaymentIdentifierExtension() declares.
export const PAYMENT_IDENTIFIER_DECLARATION = {
  info: { required: false },
  schema: {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    type: "object",
    properties: { required: { type: "boolean" }, id: { type: "string", minLength: 16, maxLength: 128, pattern: "^[a-zA-Z0-9_-]+$" } },
    required: ["required"],
  },
};

// paymentIdentifier returns the payment's id, null when it carries none, or
// {invalid: reason}.
export function paymentIdentifier(payment) {
  const ext = payment.extensions && payment.extensions[PAYMENT_IDENTIFIER];
  if (!ext || typeof ext !== "object" || !ext.info || typeof ext.info !== "object" || ext.info.id === undefined) return null;
  const id = ext.info.id;
  if (typeof id !== "string" || !ID_PATTERN.test(id)) return { invalid: true };
  return id;
}

const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");

async function fingerprint(request, payment) {
  const text = request.method + " " + request.url + "\n" + JSON.stringify(payment.payload) + "\n" + JSON.stringify(payment.accepted);
  return hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

function conflict(code, message, extra) {
  return jsonError(409, code, message, extra);
}

// idempotent answers a payment carrying an id: a kept answer, a 409, or
// pay() — the paywall's usual path — whose answer it keeps. lockFor(key)
// is the PaymentLock stub for a key; authExpiry the lock expiry of the
// payment's authorization (unix seconds).
export async function idempotent(request, payment, id, ev, env, lockFor, authExpiry, pay) {
  if (typeof id === "object") {
    ev.payment_required = true;
    ev.verify_result = "payment_identifier_invalid";
    return conflict("payment_identifier_invalid", "The payment-identifier id must be 16 to 128 letters, digits, hyphens or underscores.");
  }
  const key = "idem|" + ev.app + "|" + id;
  const stub = lockFor(key);
  const fp = await fingerprint(request, payment);
  const exp = Math.max(authExpiry, Math.floor(Date.now() / 1000) + IDEM_WINDOW_S);
  let st;
  try {
    st = await stub.idemBegin(key, fp, exp);
  } catch {
    return jsonError(503, "payment_lock_unavailable", "The payment could not be checked against earlier retries; the request was not run and nothing was charged. Try again.", { "retry-after": "5" });
  }
  if (st.conflict) {
    ev.payment_required = true;
    ev.verify_result = "payment_identifier_conflict";
    return conflict("payment_identifier_conflict", "This payment-identifier id was used with a different payment or request; use a new id for a new payment.");
  }
  if (st.busy) {
    ev.verify_result = "payment_identifier_in_progress";
    return conflict("payment_identifier_in_progress", "The first request with this payment-identifier id is still being answered; retry in a moment.", { "retry-after": "1" });
  }
  if (st.kept) {
    // The first answer again: no verify, no settle, no tenant run.
    ev.verify_result = "payment_identifier_replay";
    ev.settlement_result = "replayed";
    const k = st.kept;
    if (k.tooLarge) {
      return conflict("payment_identifier_answer_not_kept", "This payment was answered already; its answer was too large to keep for a retry, and the payment is not charged again.");
    }
    const h = new Headers(k.headers);
    h.set("payment-identifier-replay", "true");
    return new Response(k.body, { status: k.status, headers: h });
  }

  let response;
  try {
    response = await pay();
  } catch (err) {
    await stub.idemEnd(key, null, exp).catch(() => {});
    throw err;
  }
  if (!ev.served) {
    // Refused before the tenant ran (invalid payment, facilitator down…):
    // nothing to keep, the retry is processed afresh.
    await stub.idemEnd(key, null, exp).catch(() => {});
    return response;
  }
  let kept;
  let out = response;
  const len = Number(response.headers.get("content-length"));
  if (Number.isFinite(len) && len > IDEM_MAX_BODY) {
    kept = { tooLarge: true };
  } else {
    const body = await response.arrayBuffer();
    out = new Response(body, response);
    if (body.byteLength > IDEM_MAX_BODY) {
      kept = { tooLarge: true };
    } else {
      const headers = {};
      for (const n of KEPT_HEADERS) {
        const v = response.headers.get(n);
        if (v !== null) headers[n] = v;
      }
      kept = { status: response.status, headers, body };
    }
  }
  try {
    await stub.idemEnd(key, kept, exp);
  } catch (err) {
    console.error("payment-identifier " + id.slice(0, 16) + "…: answer not kept: " + ((err && err.message) || err));
  }
  return out;
}

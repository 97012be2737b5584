// The settlement outbox of the PaymentLock Durable Object (lock.js): every
// payment the facilitator settled is kept in the object's storage until the
// portal has acknowledged it. Telemetry events are best effort (a batch waits
// up to 250 ms in the isolate, and a workerd crash or an evicted isolate
// loses it); the ledger must not be: the facilitator has moved the money.
//
// Delivery: an alarm of the object POSTs pending records to the portal's
// ingest endpoint (env.INGEST_URL, bearer env.INGEST_TOKEN) as
// {"settlements":[…]} and deletes them only after a 2xx answer. The portal
// inserts ledger rows idempotently by (network, nonce), so a record that is
// delivered twice, or that also arrived in a telemetry batch, is one row.
//
// On Cloudflare the same code runs in the real Durable Object: storage writes
// are durable before the object's answer leaves it (output gates), alarms
// survive restarts and evictions, and the object's fetch reaches the portal
// over the internet with the same INGEST_URL and INGEST_TOKEN bindings that
// `402claw edge bootstrap` gives the dispatcher — also when the dispatcher's
// telemetry goes to Workers Analytics Engine (env.ANALYTICS), which carries no
// ledger. Without INGEST_URL records are kept (and retried hourly) until one
// is configured.

export const OUTBOX_PREFIX = "outbox:";
// A delivery waits this long after the first pending record, so that the
// records of a burst of payments leave in one POST.
export const DELIVER_AFTER_MS = 1000;
export const DELIVER_BATCH = 100;
const RETRY_MIN_MS = 2000;
export const RETRY_MAX_MS = 5 * 60 * 1000;
const DELIVER_TIMEOUT_MS = 10000;

// settlementRecord is what the ledger needs of a settlement, taken from the
// request's telemetry event once the paywall has filled it in. success is
// false for a settlement that is pending (settlement_result
// "settlement_pending": a later record of the same payment finishes it) or
// failed after the tenant ran (the reason, "optimistic_loss:…" for an
// optimistic route's loss): the ledger keeps those rows too, unpaid.
export function settlementRecord(ev, asset) {
  return {
    ts: Date.now(),
    app: ev.app,
    route: ev.route,
    payer: ev.payer,
    nonce: ev.nonce,
    amount: ev.amount,
    asset: asset ?? null,
    network: ev.network,
    transaction: ev.transaction ?? "",
    simulated: ev.simulated === true,
    success: ev.payment_success === true,
    settlement_result: ev.settlement_result || (ev.payment_success === true ? "success" : "settlement_failed"),
  };
}

// retryDelay backs off exponentially with the number of failed deliveries in
// a row, with jitter so that 64 shards do not retry in step.
export function retryDelay(failures, random = Math.random) {
  const base = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(failures - 1, 20));
  return Math.round(base * (0.75 + random() / 2));
}

// deliver sends up to DELIVER_BATCH pending records and deletes them once the
// portal acknowledged them. It resolves to {sent, more, failed, reason}: more
// means records are still waiting (a full batch went, or the POST failed).
export async function deliver(storage, env, fetchFn = fetch) {
  const page = await storage.list({ prefix: OUTBOX_PREFIX, limit: DELIVER_BATCH });
  if (page.size === 0) return { sent: 0, more: false, failed: false };
  if (!env.INGEST_URL) return { sent: 0, more: true, failed: true, reason: "no INGEST_URL" };
  const keys = [...page.keys()];
  let r;
  try {
    r = await fetchFn(env.INGEST_URL, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer " + (env.INGEST_TOKEN || "") },
      body: JSON.stringify({ settlements: [...page.values()] }),
      signal: AbortSignal.timeout(DELIVER_TIMEOUT_MS),
    });
  } catch (err) {
    return { sent: 0, more: true, failed: true, reason: String((err && err.message) || err) };
  }
  await r.body?.cancel();
  if (r.status < 200 || r.status >= 300) return { sent: 0, more: true, failed: true, reason: "HTTP " + r.status };
  // delete takes at most 128 keys at once.
  for (let i = 0; i < keys.length; i += 128) await storage.delete(keys.slice(i, i + 128));
  return { sent: keys.length, more: page.size >= DELIVER_BATCH, failed: false };
}

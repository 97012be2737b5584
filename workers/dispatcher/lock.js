// PaymentLock is the Durable Object that keeps one x402 payment from running
// a tenant's code twice. The facilitator's only replay protection is the
// nonce, consumed at settle; between verify and settle the same payment
// verifies again, so the dispatcher takes this lock right after verify.
//
// A Durable Object runs one event at a time. The used payments are loaded
// into memory once (blockConcurrencyWhile) and checked and set there without
// any await in between, so exactly one of many concurrent acquires of a key
// wins — with no reliance on input gates (awaiting a fetch or a timer
// between a storage get and put let 10 of 10 through under workerd).
//
// Entries (key → validBefore, unix seconds) outlive the settle on purpose: a
// payment whose tenant ran stays used. An alarm prunes them once the
// authorization has expired, when no facilitator would accept it anyway.
//
// The same object keeps the settlement outbox (outbox.js): settled() writes
// a settled payment through to storage before the paid answer leaves, and
// the alarm delivers pending records to the portal until it acknowledges
// them. One alarm serves both jobs: it fires at the earlier of the next
// delivery and the next pruning.
import { DurableObject } from "cloudflare:workers";
import { OUTBOX_PREFIX, DELIVER_AFTER_MS, RETRY_MAX_MS, deliver, retryDelay } from "./outbox.js";
import { callFacilitator, isPending } from "./settle.js";

// Pending settlements (settlement_pending after the paywall's retry) are
// kept under this prefix, {record, body, attempts, next}, and settled again
// by the alarm with the identical body until the facilitator answers
// something final; after PENDING_MAX_ATTEMPTS the ledger row says
// settlement_unconfirmed.
export const PENDING_PREFIX = "pending:";
export const PENDING_MAX_ATTEMPTS = 40;
const PENDING_FIRST_MS = 2000;

// Answers kept for payment-identifier retries (idem.js): key → {fp, exp,
// kept?}; no kept is a first request still running.
export const IDEM_PREFIX = "idem|";

const PRUNE_EVERY_MS = 3600 * 1000;
const PRUNE_BATCH = 1000;
const WARM_KEY = "warm-up"; // never a payment key (those hold "|")

export class PaymentLock extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    // FLUSH_MS > 0 (the local edge) keeps the used payments in memory and
    // writes them behind in batches: workerd commits every storage write on
    // the one thread that also runs the dispatcher, about 1 ms each. A crash
    // loses at most FLUSH_MS of entries. On Cloudflare it is unset: every
    // entry is written through before acquire answers. Settlements are
    // always written through (settled()).
    this.flushMs = Number(env && env.FLUSH_MS) || 0;
    this.dirty = new Map(); // key → expiry, or null for a delete
    this.flushing = null;
    this.alarmAt = null; // when the alarm is set to fire (ms), null: none
    this.nextPruneAt = 0; // the first alarm after a start prunes
    this.failures = 0; // failed deliveries in a row
    this.pending = false; // the outbox holds records
    ctx.blockConcurrencyWhile(async () => {
      const used = new Map();
      const settling = new Map();
      const idem = new Map();
      for (const [k, v] of await ctx.storage.list()) {
        if (k.startsWith(OUTBOX_PREFIX)) this.pending = true;
        else if (k.startsWith(PENDING_PREFIX)) settling.set(k, v);
        else if (k.startsWith(IDEM_PREFIX)) idem.set(k, v);
        else used.set(k, v);
      }
      this.used = used;
      this.settling = settling;
      this.idem = idem;
      this.alarmAt = await ctx.storage.getAlarm();
      // Records a crash left behind go out soon after the object is back.
      // The stored alarm survives a restart (workerd and Cloudflare fire it
      // late); one that is overdue is set again in case it never fires.
      const now = Date.now();
      if ((this.pending || this.settling.size > 0) && (this.alarmAt === null || this.alarmAt < now)) {
        this.alarmAt = null;
        this.schedule(now + DELIVER_AFTER_MS);
      } else if (this.alarmAt === null) {
        this.schedule(now + PRUNE_EVERY_MS);
      }
    });
  }

  // ready resolves once the used payments are loaded and the alarm is set
  // (warm-up: the first payment then pays for neither).
  async ready() {
    // Run the acquire path once (V8 compiles a function on its first call).
    if (await this.acquire(WARM_KEY, 0)) await this.release(WARM_KEY);
    return true;
  }

  // schedule moves the alarm to at when that is sooner than the one set.
  // setAlarm is a storage write: called in the same turn as a put, both
  // commit together.
  schedule(at) {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    this.ctx.storage.setAlarm(at);
  }

  // acquire returns true when the caller now holds key, false when another
  // request holds or used it. The check and the set are synchronous.
  async acquire(key, expiresAt) {
    if (this.used.has(key)) return false;
    this.used.set(key, expiresAt);
    // The last alarm found nothing to prune or deliver and set none.
    if (this.alarmAt === null) this.schedule(Date.now() + PRUNE_EVERY_MS);
    await this.persist(key, expiresAt);
    return true;
  }

  // release forgets key: for payments whose tenant never ran (settle-before
  // failed, facilitator down), so the consumer may retry the same payment.
  async release(key) {
    this.used.delete(key);
    await this.persist(key, null);
  }

  // settled records a settled payment in the outbox, together with its lock
  // entry, written through whatever FLUSH_MS says: the dispatcher awaits it
  // before it answers, so a paid 200 implies a record on disk. The puts and
  // the alarm are one implicit transaction (no await between them).
  async settled(key, record) {
    const entries = { [OUTBOX_PREFIX + key]: record };
    if (this.used.has(key)) {
      entries[key] = this.used.get(key);
      this.dirty.delete(key);
    }
    const done = this.ctx.storage.put(entries);
    this.pending = true;
    this.schedule(Date.now() + DELIVER_AFTER_MS);
    await done;
    return true;
  }

  // pendingSettlement keeps a settlement the facilitator answered settlement_pending:
  // its record goes to the ledger now (unpaid, pending) and the alarm
  // settles body again until the answer is final.
  async pendingSettlement(key, record, body) {
    const entry = { record, body, attempts: 0, next: Date.now() + PENDING_FIRST_MS };
    this.settling.set(PENDING_PREFIX + key, entry);
    const entries = { [OUTBOX_PREFIX + key]: record, [PENDING_PREFIX + key]: entry };
    if (this.used.has(key)) {
      entries[key] = this.used.get(key);
      this.dirty.delete(key);
    }
    const done = this.ctx.storage.put(entries);
    this.pending = true;
    this.schedule(Math.min(Date.now() + DELIVER_AFTER_MS, entry.next));
    await done;
    return true;
  }

  // idemBegin claims a payment-identifier key for a request with
  // fingerprint fp: {fresh} (the caller runs it and calls idemEnd),
  // {kept} (the first answer), {busy} (the first request still runs) or
  // {conflict} (another payment or request used the id). Check and set are
  // synchronous, as in acquire.
  async idemBegin(key, fp, exp) {
    const e = this.idem.get(key);
    if (e && e.exp > Date.now() / 1000) {
      if (e.fp !== fp) return { conflict: true };
      return e.kept ? { kept: e.kept } : { busy: true };
    }
    const entry = { fp, exp };
    this.idem.set(key, entry);
    if (this.alarmAt === null) this.schedule(Date.now() + PRUNE_EVERY_MS);
    await this.ctx.storage.put(key, entry);
    return { fresh: true };
  }

  // idemEnd keeps the answer of a claimed key (kept: {status, headers,
  // body} or {tooLarge}), or forgets the claim (kept null: nothing ran).
  async idemEnd(key, kept, exp) {
    const e = this.idem.get(key);
    if (!kept) {
      this.idem.delete(key);
      await this.ctx.storage.delete(key);
      return true;
    }
    const entry = { fp: e ? e.fp : "", exp, kept };
    this.idem.set(key, entry);
    await this.ctx.storage.put(key, entry);
    return true;
  }

  // refused tells whether key (refuse|app|payer) is refused now.
  async refused(key) {
    const until = this.used.get(key);
    return typeof until === "number" && until > Date.now() / 1000;
  }

  // refuse refuses key until the unix time until (a later one wins).
  async refuse(key, until) {
    const had = this.used.get(key);
    if (typeof had === "number" && had >= until) return true;
    this.used.set(key, until);
    if (this.alarmAt === null) this.schedule(Date.now() + PRUNE_EVERY_MS);
    await this.persist(key, until);
    return true;
  }

  // settlePending settles the due pending settlements once more each and
  // returns when the next one is due (Infinity: none left).
  async settlePending(now) {
    let next = Infinity;
    for (const [k, e] of [...this.settling]) {
      if (e.next > now) {
        next = Math.min(next, e.next);
        continue;
      }
      const s = await callFacilitator(this.env, e.record.network, "/settle", e.body);
      const rec = { ...e.record, ts: Date.now() };
      let final = true;
      if (!s.down && s.json.success === true) {
        rec.success = true;
        rec.settlement_result = "success";
        rec.transaction = String(s.json.transaction || rec.transaction || "");
      } else if (!s.down && !isPending(s)) {
        rec.success = false;
        rec.settlement_result = String(s.json.errorReason || "settlement_failed");
      } else if (e.attempts + 1 >= PENDING_MAX_ATTEMPTS) {
        rec.success = false;
        rec.settlement_result = "settlement_unconfirmed";
      } else {
        final = false;
      }
      const outboxKey = OUTBOX_PREFIX + k.slice(PENDING_PREFIX.length);
      if (final) {
        this.settling.delete(k);
        this.ctx.storage.delete(k);
        await this.ctx.storage.put(outboxKey, rec);
        this.pending = true;
        next = Math.min(next, Date.now() + DELIVER_AFTER_MS);
      } else {
        e.attempts++;
        e.next = Date.now() + Math.min(RETRY_MAX_MS, PENDING_FIRST_MS * 2 ** Math.min(e.attempts, 16));
        await this.ctx.storage.put(k, e);
        next = Math.min(next, e.next);
      }
    }
    return next;
  }

  async persist(key, value) {
    if (this.flushMs <= 0) {
      if (value === null) await this.ctx.storage.delete(key);
      else await this.ctx.storage.put(key, value);
      return;
    }
    this.dirty.set(key, value);
    if (!this.flushing) {
      this.flushing = new Promise((resolve) => setTimeout(resolve, this.flushMs)).then(() => this.flush());
    }
  }

  async flush() {
    const batch = [...this.dirty];
    this.dirty = new Map();
    this.flushing = null;
    // put and delete take at most 128 keys at once.
    const puts = batch.filter(([, v]) => v !== null);
    const dels = batch.filter(([, v]) => v === null).map(([k]) => k);
    for (let i = 0; i < puts.length; i += 128) await this.ctx.storage.put(Object.fromEntries(puts.slice(i, i + 128)));
    for (let i = 0; i < dels.length; i += 128) await this.ctx.storage.delete(dels.slice(i, i + 128));
  }

  async alarm() {
    this.alarmAt = null;
    let next = Infinity;
    if (this.settling.size > 0) {
      try {
        next = await this.settlePending(Date.now());
      } catch (err) {
        console.error("pending settlements: " + ((err && err.message) || err));
        next = Date.now() + RETRY_MAX_MS;
      }
    }
    if (this.pending) {
      let res;
      try {
        res = await deliver(this.ctx.storage, this.env);
      } catch (err) {
        res = { more: true, failed: true, reason: String((err && err.message) || err) };
      }
      if (res.failed) {
        this.failures++;
        // Without an ingest URL there is nobody to ask: look again hourly.
        const wait = this.env && this.env.INGEST_URL ? retryDelay(this.failures) : RETRY_MAX_MS * 12;
        if (this.failures === 1 || this.failures % 10 === 0) {
          console.error("payment ledger: " + res.reason + "; settlements stay in the outbox, retrying in " + Math.round(wait / 1000) + " s");
        }
        next = Math.min(next, Date.now() + wait);
      } else {
        this.failures = 0;
        this.pending = res.more;
        if (res.more) next = Date.now();
      }
    }
    const now = Date.now();
    if (now >= this.nextPruneAt) {
      await this.prune();
      this.nextPruneAt = now + PRUNE_EVERY_MS;
    }
    if (this.used.size > 0 || this.idem.size > 0) next = Math.min(next, this.nextPruneAt);
    // settled() may have set a sooner alarm while this one awaited.
    if (next !== Infinity) this.schedule(next);
  }

  async prune() {
    const now = Math.floor(Date.now() / 1000);
    const storage = this.ctx.storage;
    let start;
    for (;;) {
      const page = await storage.list({ start, limit: PRUNE_BATCH });
      const dead = [];
      let last;
      for (const [k, exp] of page) {
        last = k;
        if (k.startsWith(OUTBOX_PREFIX) || k.startsWith(PENDING_PREFIX)) continue;
        if (k.startsWith(IDEM_PREFIX)) {
          if (exp && exp.exp < now - 60) {
            dead.push(k);
            this.idem.delete(k);
          }
          continue;
        }
        if (typeof exp !== "number" || exp < now - 60) dead.push(k);
      }
      for (const k of dead) this.used.delete(k);
      // delete takes at most 128 keys at once.
      for (let i = 0; i < dead.length; i += 128) await storage.delete(dead.slice(i, i + 128));
      if (page.size < PRUNE_BATCH) break;
      start = last + "\u0000";
    }
  }
}

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
import { DurableObject } from "cloudflare:workers";

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
    // entry is written through before acquire answers.
    this.flushMs = Number(env && env.FLUSH_MS) || 0;
    this.dirty = new Map(); // key → expiry, or null for a delete
    this.flushing = null;
    ctx.blockConcurrencyWhile(async () => {
      this.used = new Map(await ctx.storage.list());
    });
  }

  // ready resolves once the used payments are loaded and the pruning alarm
  // is set (warm-up: the first payment then pays for neither).
  async ready() {
    await this.ensureAlarm();
    // Run the acquire path once (V8 compiles a function on its first call).
    if (await this.acquire(WARM_KEY, 0)) await this.release(WARM_KEY);
    return true;
  }

  async ensureAlarm() {
    if (this.alarmChecked) return;
    this.alarmChecked = true;
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + PRUNE_EVERY_MS);
  }

  // acquire returns true when the caller now holds key, false when another
  // request holds or used it. The check and the set are synchronous.
  async acquire(key, expiresAt) {
    if (this.used.has(key)) return false;
    this.used.set(key, expiresAt);
    await this.persist(key, expiresAt);
    if (!this.alarmChecked) await this.ensureAlarm();
    return true;
  }

  // release forgets key: for payments whose tenant never ran (settle-before
  // failed, facilitator down), so the consumer may retry the same payment.
  async release(key) {
    this.used.delete(key);
    await this.persist(key, null);
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
    const now = Math.floor(Date.now() / 1000);
    const storage = this.ctx.storage;
    let start;
    let remaining = false;
    for (;;) {
      const page = await storage.list({ start, limit: PRUNE_BATCH });
      const dead = [];
      let last;
      for (const [k, exp] of page) {
        last = k;
        if (typeof exp !== "number" || exp < now - 60) dead.push(k);
        else remaining = true;
      }
      for (const k of dead) this.used.delete(k);
      // delete takes at most 128 keys at once.
      for (let i = 0; i < dead.length; i += 128) await storage.delete(dead.slice(i, i + 128));
      if (page.size < PRUNE_BATCH) break;
      start = last + "\u0000";
    }
    if (remaining) await storage.setAlarm(Date.now() + PRUNE_EVERY_MS);
  }
}

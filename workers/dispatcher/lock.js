// PaymentLock is the Durable Object that keeps one x402 payment from running
// a tenant's code twice. The facilitator's only replay protection is the
// nonce, consumed at settle; between verify and settle the same payment
// verifies again, so the dispatcher takes this lock right after verify.
//
// A Durable Object runs one event at a time and its input gate keeps other
// events out while it awaits storage, so get-then-put is atomic as long as
// nothing but storage operations is awaited between them (awaiting a fetch or
// a timer there would open the gate: measured under workerd, 10 of 10
// concurrent acquires then win).
//
// Entries (key → validBefore, unix seconds) outlive the settle on purpose: a
// payment whose tenant ran stays used. An alarm prunes them once the
// authorization has expired, when no facilitator would accept it anyway.
import { DurableObject } from "cloudflare:workers";

const PRUNE_EVERY_MS = 3600 * 1000;
const PRUNE_BATCH = 1000;

export class PaymentLock extends DurableObject {
  // acquire returns true when the caller now holds key, false when another
  // request holds or used it.
  async acquire(key, expiresAt) {
    const storage = this.ctx.storage;
    if ((await storage.get(key)) !== undefined) return false;
    await storage.put(key, expiresAt);
    if (!this.alarmChecked) {
      this.alarmChecked = true;
      if ((await storage.getAlarm()) === null) await storage.setAlarm(Date.now() + PRUNE_EVERY_MS);
    }
    return true;
  }

  // release forgets key: for payments whose tenant never ran (settle-before
  // failed, facilitator down), so the consumer may retry the same payment.
  async release(key) {
    await this.ctx.storage.delete(key);
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
      // delete takes at most 128 keys at once.
      for (let i = 0; i < dead.length; i += 128) await storage.delete(dead.slice(i, i + 128));
      if (page.size < PRUNE_BATCH) break;
      start = last + "\u0000";
    }
    if (remaining) await storage.setAlarm(Date.now() + PRUNE_EVERY_MS);
  }
}

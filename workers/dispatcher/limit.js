// Per-caller limits of a route (config document: route.limits {perSecond,
// burst, perMinute, daily, monthly, dailySpend, challengesPerMinute}).
//
// Where they are counted (quota.js take): the rate windows (perSecond with
// burst, perMinute, and challengesPerMinute) in the dispatcher isolate's
// memory, exact within an isolate, empty after a restart, enforced by each
// isolate on its own where there are several; the quotas (daily, monthly,
// dailySpend) in this Durable Object, exact everywhere and durable. A route
// with rate windows only never calls an object.
//
// Keying and sharding of the objects: one CallerLimiter per app, route and
// caller (idFromName(app|route|caller)); the caller is the payer address on
// x402 routes (after the facilitator verified the payment), the sha256 of the
// API key on api_key routes and the client IP (CF-Connecting-IP) on public
// routes. A Durable Object runs one event at a time and take() reads and
// updates its state without an await in between, so the quotas are exact
// under any concurrency: of N concurrent requests exactly the allowed number
// pass. The state is written through to the object's storage (its output
// gate holds the answer until the write is durable; the writes of events
// that arrive meanwhile are flushed together), so quotas survive a restart.
//
// Algorithms: perSecond with burst is a token bucket (capacity burst, or
// perSecond without one; refilled continuously); perMinute, daily and monthly
// are fixed windows (UTC minute, day, calendar month); dailySpend caps the
// sum of the route's prices (atomic units) a payer may be charged per UTC day.
// A request is counted in every window or in none: a refused request uses no
// quota. Spend is counted when the payment passes the limit, before it is
// settled; a payment that then fails to settle still counts (the cap errs
// towards charging less).
import { DurableObject } from "cloudflare:workers";
import { decide } from "./quota.js";

export class CallerLimiter extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.state = {};
    ctx.blockConcurrencyWhile(async () => {
      this.state = (await ctx.storage.get("s")) || {};
    });
  }

  // take counts one request of cost atomic units (x402: the route's price;
  // otherwise 0) against limits (the dispatcher sends the quotas only). No
  // await between the read and the update.
  take(limits, cost) {
    const d = decide(this.state, limits || {}, cost || "0", Date.now());
    if (d.ok) this.ctx.storage.put("s", this.state);
    return d;
  }
}

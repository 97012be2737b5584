import { jsonError } from "./errors.js";

// The x402 paywall slots in here: it receives the matched route and returns
// either a Response (payment required, invalid payment) or a continuation
// that settles after the tenant answered. Until it lands, priced routes
// refuse honestly instead of serving for free.
export async function paywall(_request, route, _env, _ctx) {
  return {
    response: jsonError(402, "payment_required", "This route requires an x402 payment; payments are not enabled on this edge yet."),
    paymentRequired: true,
  };
}

// Every error the edge produces has the same shape as the portal's JSON API:
// {"error":{"code","message"}}, so clients need one parser for both. They
// carry the edge's CORS headers from the start.
import { OWN_CORS } from "./cors.js";

const codes = new WeakMap();

export function jsonError(status, code, message, headers) {
  const h = { ...OWN_CORS, ...headers, "content-type": "application/json; charset=utf-8" };
  const r = new Response(JSON.stringify({ error: { code, message } }), { status, headers: h });
  codes.set(r, code);
  return r;
}

// tagErrorCode records the code of an error response built elsewhere (the
// paywall's 402s), for telemetry.
export function tagErrorCode(response, code) {
  codes.set(response, code);
  return response;
}

// The error code of a response made by jsonError, for telemetry.
export function errorCodeOf(response) {
  return codes.get(response) || null;
}

// Maps an exception thrown by a user worker (or by the namespace itself) to a
// response. Cloudflare only tells us through the message, so match substrings
// (production wording: "Worker exceeded CPU time limit.", "Too many
// subrequests by single Worker invocation.").
export function dispatchErrorResponse(err) {
  const msg = String((err && err.message) || err);
  if (msg.includes("Worker not found")) {
    return jsonError(404, "app_not_deployed", "This app has no deployed code.");
  }
  if (msg.includes("CPU time limit")) {
    return jsonError(503, "cpu_limit_exceeded", "The app exceeded the CPU time limit of its plan.");
  }
  if (msg.includes("subrequests")) {
    // 429 rather than 503: retrying the same request will hit the same limit,
    // and 429 tells the caller the plan's quota, not the platform, refused it.
    return jsonError(429, "subrequest_limit_exceeded", "The app made more subrequests than its plan allows.");
  }
  return jsonError(500, "worker_exception", "The app threw an exception.");
}

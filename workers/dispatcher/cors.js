// Browsers and x402 clients in web pages must be able to send the payment and
// key headers and read the payment headers back.
export const ALLOW_HEADERS = "PAYMENT-SIGNATURE, X-API-Key, Authorization, Content-Type";
export const EXPOSE_HEADERS = "PAYMENT-REQUIRED, PAYMENT-RESPONSE, Claw-Request-Id, RateLimit, RateLimit-Policy, Retry-After";

export function preflight(request) {
  const h = new Headers({
    "access-control-allow-origin": request.headers.get("origin") || "*",
    "access-control-allow-methods": "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
    "access-control-allow-headers": ALLOW_HEADERS,
    "access-control-expose-headers": EXPOSE_HEADERS,
    "access-control-max-age": "86400",
    vary: "Origin",
  });
  return new Response(null, { status: 204, headers: h });
}

// The CORS headers of every response the edge makes itself: set when the
// response is built, so no header has to be added afterwards.
export const OWN_CORS = Object.freeze({
  "access-control-allow-origin": "*",
  "access-control-expose-headers": EXPOSE_HEADERS,
});

// Applies CORS to a response whose headers are mutable. The tenant may have
// set its own allow-origin; it wins.
export function applyCors(headers) {
  if (!headers.has("access-control-allow-origin")) headers.set("access-control-allow-origin", "*");
  headers.set("access-control-expose-headers", EXPOSE_HEADERS);
}

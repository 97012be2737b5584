// Tenant responses must not set the portal's cookies. Apps are served on
// the portal's site in local mode (127.0.0.1:<edge> beside 127.0.0.1:<portal>:
// cookies ignore ports) and wherever an operator puts apps under the
// portal's registrable domain; a planted session or CSRF cookie was the
// first step of a forged form post to the portal. The names are the
// portal's (web/csrf.go, cookieNames), compared case-insensitively and with
// or without a __Host- or __Secure- prefix, as browsers compare prefixes.
const PORTAL_COOKIES = new Set(["claw_session", "claw_csrf"]);

// cookieName is the name a browser gives the cookie of one Set-Cookie
// header, lower-cased and without a __Host- or __Secure- prefix. A pair
// without "=" is a nameless cookie whose value browsers send bare (as if
// it were a name), so it counts as that name.
export function cookieName(setCookie) {
  let end = setCookie.indexOf(";");
  if (end < 0) end = setCookie.length;
  const eq = setCookie.indexOf("=");
  let name = (eq < 0 || eq > end ? setCookie.slice(0, end) : setCookie.slice(0, eq)).trim().toLowerCase();
  if (name.startsWith("__host-")) name = name.slice(7);
  else if (name.startsWith("__secure-")) name = name.slice(9);
  return name;
}

export function isPortalCookie(setCookie) {
  return PORTAL_COOKIES.has(cookieName(setCookie));
}

// stripPortalCookies returns the response without Set-Cookie headers for
// the portal's cookies. Only a response that has such a header is copied
// (mutable = true: its headers are already ours to change); every other
// response, the common case, costs one header lookup.
export function stripPortalCookies(response, mutable) {
  if (!response.headers.has("set-cookie")) return response;
  const all = response.headers.getSetCookie();
  const keep = all.filter((c) => !isPortalCookie(c));
  if (keep.length === all.length) return response;
  const r = mutable ? response : new Response(response.body, response);
  r.headers.delete("set-cookie");
  for (const c of keep) r.headers.append("set-cookie", c);
  return r;
}

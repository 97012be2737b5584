// Resolving which app a request is for.
//
// The rule, applied in this order:
//  1. Host routing: the Host (lower-cased, port and one trailing dot removed)
//     is exactly "<slug>.<BASE_DOMAIN>" with a valid slug. The path is
//     forwarded unchanged.
//  2. Otherwise path routing: leading empty segments are skipped ("//app/x"
//     is "/app/x"), the first segment is lower-cased (slugs and host names are
//     case-insensitive, so "/APP/x" is the same app as "app.<base>/x") and
//     must be a valid slug. The "/<segment>" prefix is stripped; the rest is
//     forwarded as is ("" becomes "/"). Percent-encoded segments are never
//     slugs.
// Punycode labels ("xn--…") pass only when they are valid slugs, like any
// other label; they then simply name an app that does not exist.
export const SLUG_RE = /^[a-z][a-z0-9-]{2,31}$/;

export function isSlug(s) {
  return typeof s === "string" && SLUG_RE.test(s);
}

export function hostName(host) {
  let h = String(host || "").toLowerCase();
  if (h.startsWith("[")) return h; // IPv6 literal: never an app host
  const colon = h.lastIndexOf(":");
  if (colon >= 0) h = h.slice(0, colon);
  if (h.endsWith(".")) h = h.slice(0, -1);
  return h;
}

// Returns {slug, path, via} where path is what the tenant worker sees, or
// {slug: null, path} when the request names no app.
export function resolveApp(host, pathname, baseDomain) {
  const base = hostName(baseDomain);
  const h = hostName(host);
  if (base && h.endsWith("." + base)) {
    const label = h.slice(0, -(base.length + 1));
    if (isSlug(label)) return { slug: label, path: pathname || "/", via: "host" };
  }
  let rest = pathname || "/";
  let i = 0;
  while (i < rest.length && rest[i] === "/") i++;
  rest = rest.slice(i);
  const slash = rest.indexOf("/");
  const seg = (slash < 0 ? rest : rest.slice(0, slash)).toLowerCase();
  if (!isSlug(seg)) return { slug: null, path: pathname, via: "path" };
  const forwarded = slash < 0 ? "/" : rest.slice(slash);
  return { slug: seg, path: forwarded, via: "path" };
}

// A path the URL parser leaves exactly as it is: no dot segments (no "."
// at all), no backslash, no percent escape, ASCII only, nothing it would
// percent-encode.
const PLAIN_PATH = /^\/[A-Za-z0-9\-_~!$&'()*+,;=:@/]*$/;

// splitURL returns the pathname and search of href as new URL(href) would,
// without building a URL object, or null when only the parser can tell
// (request.url keeps the request line as the client sent it: "/a/../b").
// search may differ from URL's in query characters the parser escapes; it
// is only ever parsed again (the forwarded Request).
export function splitURL(href) {
  if (href.includes("#")) return null;
  const start = href.indexOf("/", href.indexOf("//") + 2);
  if (start < 0) return null;
  const q = href.indexOf("?", start);
  const pathname = q < 0 ? href.slice(start) : href.slice(start, q);
  if (!PLAIN_PATH.test(pathname)) return null;
  return { pathname, search: q < 0 || q === href.length - 1 ? "" : href.slice(q) };
}

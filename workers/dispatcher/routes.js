// Route matching with the x402 route syntax, byte for byte the rules of
// models/x402 (Pattern.Match): the portal warns about unreachable routes
// with the Go matcher, so the dispatcher must agree with it on every case in
// models/x402/testdata/route_cases.json.
//
// "/api/*" matches /api and below, ":id" and "[id]" match one segment; the
// query, repeated and trailing slashes are ignored; segments are compared
// percent-decoded, folding ASCII letters only (toLowerCase folds more than Go
// does, and "POſT".toUpperCase() is "POST"). First match wins. A route
// without a method (or "*"/"ANY") matches any method; a GET route also
// matches HEAD. A pattern the portal would refuse matches nothing.
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
const PARAM = 1;
const INVALID = { valid: false };
const compiled = new Map();

export function asciiLower(s) {
  return /[A-Z]/.test(s) ? s.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : s;
}

function asciiUpper(s) {
  return /[a-z]/.test(s) ? s.replace(/[a-z]+/g, (m) => m.toUpperCase()) : s;
}

// decodeURIComponent throws on a broken escape and on invalid UTF-8, which
// are exactly the cases where the segment stays raw.
function tryDecode(seg) {
  try {
    return decodeURIComponent(seg);
  } catch {
    return null;
  }
}

function decodeSegment(seg) {
  if (!seg.includes("%")) return seg;
  let dec = tryDecode(seg);
  if (dec === null) return seg;
  if (dec.includes("/") || dec.includes("\\")) dec = dec.replace(/\//g, "%2F").replace(/\\/g, "%5C");
  return dec;
}

export function compilePattern(method, pattern) {
  const key = (method || "") + " " + pattern;
  let c = compiled.get(key);
  if (c) return c;
  c = parse(method, pattern);
  if (compiled.size > 10000) compiled.clear();
  compiled.set(key, c);
  return c;
}

function parse(method, pattern) {
  let m = asciiUpper(String(method || "").trim());
  if (m === "*" || m === "ANY") m = "";
  if (m !== "" && !METHODS.has(m)) return INVALID;
  let p = String(pattern ?? "").trim();
  if (p === "*") p = "/*";
  if (p === "" || p.length > 512 || /[ \t\r\n?#\\]/.test(p) || p[0] !== "/") return INVALID;
  const parts = p.split("/");
  let last = parts.length - 1;
  while (last >= 0 && parts[last] === "") last--;
  const segs = [];
  let wildcard = false;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (part === "") continue;
    if (part === "*") {
      if (i !== last) return INVALID;
      wildcard = true;
      continue;
    }
    if (part.includes("*") || part === "." || part === "..") return INVALID;
    if (part[0] === ":") {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(part.slice(1))) return INVALID;
      segs.push(PARAM);
      continue;
    }
    if (part[0] === "[") {
      if (!/^\[[^[\]]+\]$/.test(part)) return INVALID;
      segs.push(PARAM);
      continue;
    }
    if (/[:[\]]/.test(part)) return INVALID;
    const dec = tryDecode(part);
    if (dec === null || dec.includes("/") || dec.includes("\\")) return INVALID;
    segs.push(asciiLower(dec));
  }
  return { valid: true, method: m, segs, wildcard };
}

export function patternMatches(c, method, path) {
  if (!c.valid) return false;
  if (c.method !== "") {
    // A GET route covers HEAD (HEAD runs the GET handler), as in models/x402.
    const m = asciiUpper(method);
    if (m !== c.method && !(c.method === "GET" && m === "HEAD")) return false;
  }
  let p = path || "";
  const q = p.search(/[?#]/);
  if (q >= 0) p = p.slice(0, q);
  const segs = c.segs;
  let n = 0;
  let start = 0;
  while (start <= p.length) {
    let end = p.indexOf("/", start);
    if (end < 0) end = p.length;
    if (end > start) {
      if (n >= segs.length) return c.wildcard;
      const want = segs[n];
      if (want !== PARAM && asciiLower(decodeSegment(p.slice(start, end))) !== want) return false;
      n++;
    }
    start = end + 1;
  }
  return n === segs.length;
}

// Compiled patterns per route object (a cached config keeps its routes),
// before the lookup by method and pattern text.
const byRoute = new WeakMap();

export function routeMatches(route, method, path) {
  let c = byRoute.get(route);
  if (!c || c.m !== route.method || c.p !== route.path) {
    c = { m: route.method, p: route.path, pattern: compilePattern(route.method, route.path) };
    byRoute.set(route, c);
  }
  return patternMatches(c.pattern, method, path);
}

export function matchRoute(routes, method, path) {
  if (!Array.isArray(routes)) return null;
  for (const r of routes) if (routeMatches(r, method, path)) return r;
  return null;
}

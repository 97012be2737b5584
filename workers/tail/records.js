// records.js turns tail events into log records for the tail worker (tail.js).
//
// The tail worker: on Cloudflare, every user worker in the dispatch namespace
// is uploaded with tail_consumers naming this script, so Cloudflare hands it,
// after each request, the request's console lines, uncaught exceptions and
// outcome (a TraceItem per invocation). It turns them into the portal's log
// records, the same ones the local runtime sends (workers/runtime/js
// claw-wrapper.txt), and posts them in batches to the portal's ingest
// endpoint with the ingest token, as the dispatcher's telemetry does.
//
// The request id and the matched route come from the headers the dispatcher
// set on the forwarded request (claw-request-id, claw-route); the app is the
// script's name without "app-". Lines over LOG_LINES per request are counted
// as dropped, lines over LOG_LINE_CHARS are cut with a marker: the portal
// applies the plan's own, smaller caps.

export const LOG_LINES = 1000;
export const LOG_LINE_CHARS = 16384;
const APP_PREFIX = "app-";

function header(req, name) {
  const h = req && req.headers;
  if (!h) return "";
  if (typeof h.get === "function") return h.get(name) || "";
  for (const k of Object.keys(h)) if (k.toLowerCase() === name) return String(h[k]);
  return "";
}

function show(v) {
  if (typeof v === "string") return v;
  if (v === undefined || v === null || typeof v !== "object") return String(v);
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s;
  } catch {
    return String(v);
  }
}

export function cutLine(s) {
  if (s.length <= LOG_LINE_CHARS) return s;
  return s.slice(0, LOG_LINE_CHARS) + " … [truncated: " + (s.length - LOG_LINE_CHARS) + " more characters]";
}

const LEVELS = { log: "info", info: "info", warn: "warn", error: "error", debug: "debug" };

// toRecord turns one TraceItem into a log record, or null when it is not a
// tenant's fetch (another script, a scheduled event) or logged nothing.
// script names the worker when the event does not (workerd leaves
// scriptName null; Cloudflare always sets it).
export function toRecord(item, script = "") {
  const name = (item && item.scriptName) || script;
  if (!item || typeof name !== "string" || !name.startsWith(APP_PREFIX)) return null;
  const ev = item.event || {};
  const req = ev.request;
  if (!req) return null;
  const lines = [];
  let dropped = 0;
  const add = (ts, level, message, mapped) => {
    if (lines.length >= LOG_LINES) dropped++;
    else {
      const line = { ts: Number(ts) || Date.now(), level, message: cutLine(message) };
      if (mapped) line.mapped = true;
      lines.push(line);
    }
  };
  for (const l of item.logs || []) {
    const args = Array.isArray(l.message) ? l.message : [l.message];
    add(l.timestamp, LEVELS[l.level] || "info", args.map(show).join(" "));
  }
  for (const x of item.exceptions || []) {
    const head = (x.name || "Error") + ": " + (x.message || "");
    const stack = typeof x.stack === "string" && x.stack ? x.stack : head;
    // Cloudflare remapped this stack with the script's uploaded source map: the portal must
    // not map it a second time (console lines it does not remap; the portal does).
    add(x.timestamp, "error", "Uncaught " + (stack.startsWith(head) ? stack : head + "\n" + stack), true);
  }
  if (item.outcome && item.outcome !== "ok" && item.outcome !== "exception" && item.outcome !== "unknown") {
    // The platform stopped the request (exceededCpu, exceededMemory, canceled…): said as a line.
    add(item.eventTimestamp, "error", "The request ended with outcome " + item.outcome + ".");
  }
  if (!lines.length && !dropped) return null;
  let path = "";
  try {
    path = new URL(req.url).pathname;
  } catch {
    path = "";
  }
  const status = ev.response && Number(ev.response.status);
  return {
    ts: Number(item.eventTimestamp) || Date.now(),
    app: name.slice(APP_PREFIX.length),
    request_id: header(req, "claw-request-id").slice(0, 64),
    method: String(req.method || "").slice(0, 16),
    path: (header(req, "x-forwarded-path") || path).slice(0, 520),
    route: header(req, "claw-route").slice(0, 520),
    status: status || (item.outcome === "ok" ? 200 : 500),
    lines,
    dropped,
  };
}

export function toRecords(events, script = "") {
  const out = [];
  for (const item of events || []) {
    const r = toRecord(item, script);
    if (r) out.push(r);
  }
  return out;
}


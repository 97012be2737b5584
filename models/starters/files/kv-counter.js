// A counter kept in the app's KV store (bound as env.KV): POST /hit adds one, GET / reads it.
// KV is eventually consistent: two hits at the same moment may count once.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const count = Number((await env.KV.get("count")) || 0);
    if (request.method === "POST" && url.pathname === "/hit") {
      await env.KV.put("count", String(count + 1));
      return Response.json({ count: count + 1 });
    }
    if (request.method === "GET" && url.pathname === "/") {
      return Response.json({ count });
    }
    return Response.json({ error: "GET / reads the counter, POST /hit adds one" }, { status: 404 });
  },
};

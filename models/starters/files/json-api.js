// A JSON API: GET / says hello, GET /items/:id returns one item, POST /echo returns what it got.
const items = {
  1: { id: 1, name: "Teapot", price: 12 },
  2: { id: 2, name: "Kettle", price: 30 },
};

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const path = url.pathname;
    if (request.method === "GET" && path === "/") {
      return Response.json({ message: "Hello from your JSON API", try: ["/items/1", "POST /echo"] });
    }
    const item = path.match(/^\/items\/(\d+)$/);
    if (request.method === "GET" && item) {
      const found = items[item[1]];
      return found ? Response.json(found) : Response.json({ error: "no such item" }, { status: 404 });
    }
    if (request.method === "POST" && path === "/echo") {
      let body;
      try {
        body = await request.json();
      } catch {
        return Response.json({ error: "send a JSON body" }, { status: 400 });
      }
      return Response.json({ received: body });
    }
    return Response.json({ error: "not found" }, { status: 404 });
  },
};

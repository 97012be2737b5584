// A paid API: GET /quote costs $0.001 (the edge asks for the payment before this code runs);
// GET / is free and says what is for sale.
const quotes = [
  "Simplicity is prerequisite for reliability.",
  "Make it work, make it right, make it fast.",
  "Premature optimization is the root of all evil.",
];

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/quote") {
      const quote = quotes[Math.floor(Math.random() * quotes.length)];
      return Response.json({ quote, paid: true });
    }
    if (url.pathname === "/") {
      return Response.json({ message: "GET /quote costs $0.001 in USDC, paid with x402." });
    }
    return Response.json({ error: "not found" }, { status: 404 });
  },
};

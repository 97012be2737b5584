// The official x402 client (@x402/fetch + @x402/core + @x402/evm + viem from
// node_modules), driven by the conformance tests: code nobody at 402claw
// wrote decides whether the edge speaks x402 v2.
//
//   node x402client.mjs pay URL          pays like a consumer (wrapFetchWithPayment);
//                                         prints {status, body, receipt, error}
//   node x402client.mjs challenge URL    an unpaid call, parsed by the client;
//                                         prints {status, paymentRequired, headerBytes, ...}
//   node x402client.mjs sign < PR.json   signs a PaymentRequired; prints
//                                         {header: PAYMENT-SIGNATURE value, payload}
//   pay and sign take an optional payment-identifier id as the next argument:
//   the client echoes the server's declaration with it (@x402/extensions).
//
// The key is Anvil/Hardhat test account #1, public and test-only.
import { wrapFetchWithPayment, x402Client, x402HTTPClient, decodePaymentResponseHeader } from "@x402/fetch";
import { registerExactEvmScheme } from "@x402/evm/exact/client";
import { privateKeyToAccount } from "viem/accounts";
import { appendPaymentIdentifierToExtensions } from "@x402/extensions/payment-identifier";

const TEST_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

const client = new x402Client();
registerExactEvmScheme(client, { signer: privateKeyToAccount(TEST_KEY) });
const http = new x402HTTPClient(client);

const [mode, arg, argId] = process.argv.slice(2);
const url = arg;
// The payment-identifier id, as an app using @x402/extensions adds it: a
// hook before the payment is created appends it to the server's declaration.
const paymentId = mode === "sign" ? arg : argId;
if (paymentId) {
  client.onBeforePaymentCreation(async ({ paymentRequired }) => {
    if (paymentRequired.extensions) appendPaymentIdentifierToExtensions(paymentRequired.extensions, paymentId);
  });
}
const out = {};
try {
  if (mode === "pay") {
    const pay = wrapFetchWithPayment(fetch, client);
    const r = await pay(url, { method: "GET" });
    out.status = r.status;
    out.body = await r.text();
    const receipt = r.headers.get("PAYMENT-RESPONSE");
    if (receipt) out.receipt = decodePaymentResponseHeader(receipt);
    out.cacheControl = r.headers.get("cache-control");
  } else if (mode === "challenge") {
    const r = await fetch(url);
    out.status = r.status;
    out.headerBytes = (r.headers.get("PAYMENT-REQUIRED") || "").length;
    out.cacheControl = r.headers.get("cache-control");
    out.expose = r.headers.get("access-control-expose-headers");
    let body;
    try {
      body = JSON.parse(await r.text());
    } catch {}
    out.paymentRequired = http.getPaymentRequiredResponse((n) => r.headers.get(n), body);
  } else if (mode === "sign") {
    let input = "";
    for await (const chunk of process.stdin) input += chunk;
    const payload = await client.createPaymentPayload(JSON.parse(input));
    out.header = http.encodePaymentSignatureHeader(payload)["PAYMENT-SIGNATURE"];
    out.payload = payload;
  } else {
    throw new Error("unknown mode " + mode);
  }
} catch (err) {
  out.error = String((err && err.message) || err);
}
process.stdout.write(JSON.stringify(out) + "\n");

// Reads a config route (JSON on stdin), builds its 402 challenge with the
// dispatcher's own code, and runs the official @x402/extensions helpers on it.
// Prints what they concluded as JSON.
import { prepare } from "../dispatcher/x402.js";
import { validateDiscoveryExtension, extractDiscoveryInfo, sanitizeResourceServiceMetadata } from "@x402/extensions/bazaar";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const route = JSON.parse(input);
const p = prepare(null, route);
const pr = p.paymentRequired("Payment required", "https://edge.example/weather/forecast?city=Paris");
const fromHeader = JSON.parse(Buffer.from(pr.header, "base64").toString("utf8"));
const fromBody = JSON.parse(pr.json);
const ext = fromHeader.extensions && fromHeader.extensions.bazaar;
const validation = ext ? validateDiscoveryExtension(ext) : { valid: false, errors: ["no bazaar extension"] };
// What a facilitator does with a payment for this challenge.
const payload = { x402Version: 2, resource: fromHeader.resource, accepted: fromHeader.accepts[0], payload: {}, extensions: fromHeader.extensions };
const extracted = extractDiscoveryInfo(payload, fromHeader.accepts[0], true);
const metadata = sanitizeResourceServiceMetadata(fromHeader.resource);
console.log(JSON.stringify({ sameInBody: JSON.stringify(fromBody) === JSON.stringify(fromHeader), headerBytes: pr.header.length, validation, extracted, metadata, resource: fromHeader.resource }));

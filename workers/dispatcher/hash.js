// fnv1a is the 32-bit FNV-1a hash of a string's UTF-16 code units, as an
// unsigned integer: cheap and well spread, for choosing a shard (x402.js
// lockStub) or keying a cache (the local runtime's outbound parameters).
// Not for anything an attacker must not predict.
export function fnv1a(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

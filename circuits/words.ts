/** int8 values packed into field elements (31 bytes a word), as the circuits' UnpackInt8 / PackInt8 do. */

export const BYTES_PER_WORD = 31;

/**
 * Packs int8 values into field elements exactly as UnpackInt8 / PackInt8 do: word w is the
 * big-endian integer of the two's complement bytes [31w, min(31w + 31, n)).
 */
export function packInt8Words(values: ArrayLike<number>): bigint[] {
  const words: bigint[] = [];
  for (let start = 0; start < values.length; start += BYTES_PER_WORD) {
    let w = 0n;
    const end = Math.min(values.length, start + BYTES_PER_WORD);
    for (let i = start; i < end; i++) w = (w << 8n) | BigInt((values[i] ?? 0) & 0xff);
    words.push(w);
  }
  return words;
}

export function unpackInt8Words(words: readonly bigint[], n: number): Int8Array {
  const out = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    const word = Math.floor(i / BYTES_PER_WORD);
    const len = Math.min(BYTES_PER_WORD, n - word * BYTES_PER_WORD);
    const w = words[word] ?? 0n;
    const byte = Number((w >> BigInt(8 * (len - 1 - (i % BYTES_PER_WORD)))) & 0xffn);
    out[i] = byte >= 128 ? byte - 256 : byte;
  }
  return out;
}

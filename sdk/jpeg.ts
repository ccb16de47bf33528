/**
 * A baseline JPEG decoder (sequential DCT, Huffman, 8-bit; grayscale or YCbCr with any chroma
 * subsampling; restart markers). Progressive, arithmetic-coded, 12-bit and CMYK files are refused
 * with INPUT_FORMAT_UNSUPPORTED. Chroma is upsampled by replication; the IDCT is the exact float one,
 * so pixels can differ from libjpeg's integer IDCT by a level or two.
 */
import { OracleSdkError } from "./errors.js";
import type { RgbImage } from "./inputs.js";

const unsupported = (what: string) => new OracleSdkError("INPUT_FORMAT_UNSUPPORTED", `${what}; convert the picture to PNG or baseline JPEG`);
const invalid = (what: string) => new OracleSdkError("INPUT_INVALID", `not a readable JPEG: ${what}`);

const ZIGZAG = [
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43,
  36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

interface Huffman {
  /** code length -> (code -> symbol) */
  maps: Array<Map<number, number>>;
}

interface Component {
  id: number;
  h: number;
  v: number;
  tq: number;
  td: number;
  ta: number;
  pred: number;
  blocksW: number;
  blocksH: number;
  /** decoded samples, blocksW*8 x blocksH*8 */
  pixels: Uint8ClampedArray;
}

const COS = (() => {
  const t = new Float64Array(64);
  for (let x = 0; x < 8; x++) for (let u = 0; u < 8; u++) t[x * 8 + u] = (u === 0 ? Math.SQRT1_2 : 1) * Math.cos(((2 * x + 1) * u * Math.PI) / 16);
  return t;
})();

function idct(coef: Float64Array, out: Uint8ClampedArray, stride: number, offset: number): void {
  const tmp = new Float64Array(64);
  for (let y = 0; y < 8; y++) {
    for (let u = 0; u < 8; u++) {
      let s = 0;
      for (let v = 0; v < 8; v++) s += COS[y * 8 + v]! * coef[v * 8 + u]!;
      tmp[y * 8 + u] = s;
    }
  }
  for (let y = 0; y < 8; y++) {
    for (let x = 0; x < 8; x++) {
      let s = 0;
      for (let u = 0; u < 8; u++) s += COS[x * 8 + u]! * tmp[y * 8 + u]!;
      out[offset + y * stride + x] = Math.round(s / 4 + 128);
    }
  }
}

export function decodeJpeg(bytes: Uint8Array): RgbImage {
  const d = bytes;
  if (d[0] !== 0xff || d[1] !== 0xd8) throw invalid("no SOI marker");
  const qt: Array<Int32Array | undefined> = [];
  const dcTables: Array<Huffman | undefined> = [];
  const acTables: Array<Huffman | undefined> = [];
  let components: Component[] = [];
  let width = 0, height = 0, hmax = 1, vmax = 1, restart = 0, adobeTransform = -1;
  let pos = 2;
  const u16 = (p: number) => (d[p]! << 8) | d[p + 1]!;
  for (;;) {
    if (pos + 4 > d.length) throw invalid("truncated before the image data");
    if (d[pos] !== 0xff) throw invalid(`expected a marker at byte ${pos}`);
    const marker = d[pos + 1]!;
    if (marker === 0xff) { pos++; continue; }
    const len = u16(pos + 2);
    const seg = pos + 4;
    const end = pos + 2 + len;
    if (end > d.length) throw invalid("segment runs past the end");
    if (marker === 0xdb) {
      for (let p = seg; p < end; ) {
        const pq = d[p]! >> 4, tq = d[p]! & 15;
        const table = new Int32Array(64);
        for (let i = 0; i < 64; i++) table[ZIGZAG[i]!] = pq === 0 ? d[p + 1 + i]! : u16(p + 1 + 2 * i);
        qt[tq] = table;
        p += 1 + 64 * (pq === 0 ? 1 : 2);
      }
    } else if (marker === 0xc4) {
      for (let p = seg; p < end; ) {
        const tc = d[p]! >> 4, th = d[p]! & 15;
        const counts = d.subarray(p + 1, p + 17);
        let q = p + 17;
        const maps: Array<Map<number, number>> = [];
        let code = 0;
        for (let l = 1; l <= 16; l++) {
          const m = new Map<number, number>();
          for (let i = 0; i < counts[l - 1]!; i++) m.set(code++, d[q++]!);
          maps[l] = m;
          code <<= 1;
        }
        (tc === 0 ? dcTables : acTables)[th] = { maps };
        p = q;
      }
    } else if (marker === 0xc0 || marker === 0xc1) {
      if (d[seg] !== 8) throw unsupported(`${d[seg]}-bit JPEG samples are not supported`);
      height = u16(seg + 1);
      width = u16(seg + 3);
      if (width === 0 || height === 0) throw invalid("zero image size (DNL is not supported)");
      if (width * height > 64 * 1024 * 1024) throw invalid(`image too large (${width}x${height})`);
      const n = d[seg + 5]!;
      components = [];
      for (let i = 0; i < n; i++) {
        const c = seg + 6 + 3 * i;
        components.push({ id: d[c]!, h: d[c + 1]! >> 4, v: d[c + 1]! & 15, tq: d[c + 2]!, td: 0, ta: 0, pred: 0, blocksW: 0, blocksH: 0, pixels: new Uint8ClampedArray(0) });
      }
      if (n !== 1 && n !== 3) throw unsupported(`JPEG with ${n} components (CMYK?) is not supported`);
      hmax = Math.max(...components.map((c) => c.h));
      vmax = Math.max(...components.map((c) => c.v));
    } else if (marker === 0xc2 || marker === 0xc6 || marker === 0xca || marker === 0xce) {
      throw unsupported("progressive JPEG is not supported");
    } else if (marker >= 0xc3 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      throw unsupported(`JPEG process SOF${marker - 0xc0} (lossless or arithmetic coding) is not supported`);
    } else if (marker === 0xdd) {
      restart = u16(seg);
    } else if (marker === 0xee && len >= 12 && String.fromCharCode(...d.subarray(seg, seg + 5)) === "Adobe") {
      adobeTransform = d[seg + 11]!;
    } else if (marker === 0xda) {
      if (components.length === 0) throw invalid("scan before the frame header");
      const ns = d[seg]!;
      if (ns !== components.length) throw unsupported("multi-scan (non-interleaved) JPEG is not supported");
      for (let i = 0; i < ns; i++) {
        const c = components.find((x) => x.id === d[seg + 1 + 2 * i]);
        if (c === undefined) throw invalid("scan names an unknown component");
        c.td = d[seg + 2 + 2 * i]! >> 4;
        c.ta = d[seg + 2 + 2 * i]! & 15;
      }
      pos = decodeScan(d, end, components, { width, height, hmax, vmax, restart, qt, dcTables, acTables });
      break;
    } else if (marker === 0xd9) {
      throw invalid("no image data");
    }
    pos = end;
  }
  void pos;
  const rgb = new Uint8Array(width * height * 3);
  const sample = (c: Component, x: number, y: number) => c.pixels[Math.floor((y * c.v) / vmax) * c.blocksW * 8 + Math.floor((x * c.h) / hmax)]!;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = 3 * (y * width + x);
      if (components.length === 1) {
        rgb[o] = rgb[o + 1] = rgb[o + 2] = sample(components[0]!, x, y);
        continue;
      }
      const [a, b, c] = components.map((k) => sample(k, x, y)) as [number, number, number];
      if (adobeTransform === 0) {
        rgb[o] = a; rgb[o + 1] = b; rgb[o + 2] = c;
      } else {
        const cb = b - 128, cr = c - 128;
        rgb[o] = clamp(a + 1.402 * cr);
        rgb[o + 1] = clamp(a - 0.344136 * cb - 0.714136 * cr);
        rgb[o + 2] = clamp(a + 1.772 * cb);
      }
    }
  }
  return { width, height, rgb };
}

const clamp = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

function decodeScan(
  d: Uint8Array, start: number, components: Component[],
  f: { width: number; height: number; hmax: number; vmax: number; restart: number; qt: Array<Int32Array | undefined>; dcTables: Array<Huffman | undefined>; acTables: Array<Huffman | undefined> },
): number {
  const mcusX = Math.ceil(f.width / (8 * f.hmax));
  const mcusY = Math.ceil(f.height / (8 * f.vmax));
  for (const c of components) {
    c.blocksW = mcusX * c.h;
    c.blocksH = mcusY * c.v;
    c.pixels = new Uint8ClampedArray(c.blocksW * c.blocksH * 64);
    if (f.qt[c.tq] === undefined || f.dcTables[c.td] === undefined || f.acTables[c.ta] === undefined) throw invalid("a table the scan needs is missing");
  }
  let p = start;
  let bitBuf = 0, bitCount = 0;
  const readBit = (): number => {
    if (bitCount === 0) {
      if (p >= d.length) throw invalid("image data is truncated");
      let byte = d[p++]!;
      if (byte === 0xff) {
        const next = d[p]!;
        if (next === 0) p++;
        else if (next >= 0xd0 && next <= 0xd7) throw invalid("unexpected restart marker");
        else if (next === 0xd9) byte = 0; // pad past EOI with zeros
      }
      bitBuf = byte;
      bitCount = 8;
    }
    bitCount--;
    return (bitBuf >> bitCount) & 1;
  };
  const receive = (n: number): number => {
    let v = 0;
    for (let i = 0; i < n; i++) v = (v << 1) | readBit();
    return v;
  };
  const extend = (v: number, n: number) => (n === 0 ? 0 : v < 1 << (n - 1) ? v - (1 << n) + 1 : v);
  const decodeHuff = (t: Huffman): number => {
    let code = 0;
    for (let l = 1; l <= 16; l++) {
      code = (code << 1) | readBit();
      const s = t.maps[l]!.get(code);
      if (s !== undefined) return s;
    }
    throw invalid("bad Huffman code");
  };
  const coef = new Float64Array(64);
  const block = (c: Component, bx: number, by: number) => {
    coef.fill(0);
    const q = f.qt[c.tq]!;
    const t = decodeHuff(f.dcTables[c.td]!);
    c.pred += extend(receive(t), t);
    coef[0] = c.pred * q[0]!;
    for (let k = 1; k < 64; ) {
      const rs = decodeHuff(f.acTables[c.ta]!);
      const r = rs >> 4, s = rs & 15;
      if (s === 0) {
        if (r === 15) { k += 16; continue; }
        break;
      }
      k += r;
      if (k > 63) throw invalid("coefficient index past 63");
      const z = ZIGZAG[k]!;
      coef[z] = extend(receive(s), s) * q[z]!;
      k++;
    }
    idct(coef, c.pixels, c.blocksW * 8, by * 8 * c.blocksW * 8 + bx * 8);
  };
  const total = mcusX * mcusY;
  for (let m = 0; m < total; m++) {
    if (f.restart > 0 && m > 0 && m % f.restart === 0) {
      // Byte-align, expect RSTn, reset predictors.
      bitCount = 0;
      while (p < d.length && !(d[p] === 0xff && d[p + 1]! >= 0xd0 && d[p + 1]! <= 0xd7)) p++;
      p += 2;
      for (const c of components) c.pred = 0;
    }
    const mx = m % mcusX, my = Math.floor(m / mcusX);
    for (const c of components) for (let v = 0; v < c.v; v++) for (let h = 0; h < c.h; h++) block(c, mx * c.h + h, my * c.v + v);
  }
  return p;
}

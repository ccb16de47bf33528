/** The SDK's input readers: .npy, JSON, PNG (every filter type, color type and depth used; interlaced), JPEG (baseline, progressive), and spec fitting. */
import { readFileSync } from "node:fs";
import { crc32, deflateSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { decodeJpeg, decodePng, encodePng, fitToSpec, isSdkError, readNpy, tensorFromJson, writeNpy, describeOutput, MNIST_MLP_HASH, PPOCR_CLS_HASH, ppocrClsTensor, mnistTensor } from "../../sdk/index.js";
import { renderTextLine, clsTensor } from "../../examples/text-images.js";
import type { Tensor } from "../../protocol/index.js";

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isSdkError(error) ? error.code : `not an SDK error: ${(error as Error).message}`;
  }
  return undefined;
}

/** A PNG whose rows use filter types 0..4 in turn (the SDK's encoder writes only type 0). */
function pngWithFilters(width: number, height: number, channels: 1 | 3 | 4, pixels: Uint8Array): Buffer {
  const bpp = channels;
  const stride = width * channels;
  const rows = Buffer.alloc(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    const f = y % 5;
    rows[y * (stride + 1)] = f;
    for (let x = 0; x < stride; x++) {
      const cur = pixels[y * stride + x]!;
      const a = x >= bpp ? pixels[y * stride + x - bpp]! : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + x]! : 0;
      const c = x >= bpp && y > 0 ? pixels[(y - 1) * stride + x - bpp]! : 0;
      const p = a + b - c;
      const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const paeth = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      const pred = [0, a, b, (a + b) >> 1, paeth][f]!;
      rows[y * (stride + 1) + 1 + x] = (cur - pred) & 0xff;
    }
  }
  const png = encodePng(1, 1, new Uint8Array(1), 1); // borrow signature + chunk framing
  const ihdrAt = 8;
  const ihdr = Buffer.from(png.subarray(ihdrAt, ihdrAt + 25));
  ihdr.writeUInt32BE(width, 8);
  ihdr.writeUInt32BE(height, 12);
  ihdr[17] = { 1: 0, 3: 2, 4: 6 }[channels]!;
  const chunk = (type: string, body: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(body.byteLength, 0);
    head.write(type, 4, "latin1");
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])));
    return Buffer.concat([head, body, crc]);
  };
  return Buffer.concat([png.subarray(0, 8), chunk("IHDR", ihdr.subarray(8, 21)), chunk("IDAT", deflateSync(rows)), chunk("IEND", Buffer.alloc(0))]);
}

describe("sdk inputs", () => {
  it(".npy round-trips every dtype's bytes and shape; Fortran order and big-endian data are refused", () => {
    const tensors: Tensor[] = [
      { dtype: "float32", shape: [1, 3, 2], data: Float32Array.from([0.5, -1, 2, 3, 4, 1e-7]) },
      { dtype: "int64", shape: [2], data: BigInt64Array.from([-5n, 1n << 40n]) },
      { dtype: "uint8", shape: [4], data: Uint8Array.from([0, 1, 254, 255]) },
      { dtype: "float64", shape: [], data: Float64Array.from([Math.PI]) },
    ];
    for (const t of tensors) {
      const back = readNpy(writeNpy(t));
      expect(back.dtype).toBe(t.dtype);
      expect(back.shape).toEqual(t.shape);
      expect(Array.from(back.data as ArrayLike<unknown>)).toEqual(Array.from(t.data as ArrayLike<unknown>));
    }
    const npy = writeNpy(tensors[0]!);
    expect(code(() => readNpy(Buffer.from(npy.toString("latin1").replace("'fortran_order': False", "'fortran_order': True "), "latin1")))).toBe("INPUT_INVALID");
    expect(code(() => readNpy(Buffer.from(npy.toString("latin1").replace("<f4", ">f4"), "latin1")))).toBe("INPUT_INVALID");
    expect(code(() => readNpy(npy.subarray(0, npy.byteLength - 4)))).toBe("INPUT_INVALID");
    expect(code(() => readNpy(Buffer.from("not numpy")))).toBe("INPUT_INVALID");
  });

  it("JSON: nested arrays take the model's dtype; {dtype, shape, data} objects are read as given", () => {
    const nested = tensorFromJson([[1, 2, 3], [4, 5, 6]], "int8");
    expect(nested).toMatchObject({ dtype: "int8", shape: [2, 3] });
    expect(Array.from(nested.data as Int8Array)).toEqual([1, 2, 3, 4, 5, 6]);
    const obj = tensorFromJson({ dtype: "int64", shape: [1, 2], data: ["9007199254740993", 2] }, "float32");
    expect(Array.from(obj.data as BigInt64Array)).toEqual([9007199254740993n, 2n]);
    expect(code(() => tensorFromJson({ shape: [2, 2], data: [1, 2, 3] }, "float32"))).toBe("INPUT_INVALID");
    expect(code(() => tensorFromJson([[1, "x"]], "float32"))).toBe("INPUT_INVALID");
    // Without a dtype anywhere: a typed error that says what to pass, not a TypeError.
    expect(code(() => tensorFromJson([[1, 2]]))).toBe("INPUT_INVALID");
    expect(() => tensorFromJson([[1, 2]])).toThrow(/names no "dtype"/);
    expect(tensorFromJson({ dtype: "int8", data: [[1, 2]] }).shape).toEqual([1, 2]);
    expect(code(() => tensorFromJson({ dtype: "complex64", data: [1] }, "float32"))).toBe("INPUT_INVALID");
  });

  it("fitToSpec converts representable values, adds a missing batch dimension, and refuses what does not fit", () => {
    const t = fitToSpec({ dtype: "float64", shape: [7, 7], data: new Float64Array(49).fill(3) }, { dtype: "int8", shape: [1, 7, 7] });
    expect(t).toMatchObject({ dtype: "int8", shape: [1, 7, 7] });
    expect(code(() => fitToSpec({ dtype: "float32", shape: [1, 2], data: Float32Array.from([300, 1]) }, { dtype: "int8", shape: [1, 2] }))).toBe("INPUT_INVALID");
    expect(code(() => fitToSpec({ dtype: "float32", shape: [1, 2], data: Float32Array.from([0.5, 1]) }, { dtype: "int8", shape: [1, 2] }))).toBe("INPUT_INVALID");
    expect(code(() => fitToSpec({ dtype: "float32", shape: [1, 3], data: new Float32Array(3) }, { dtype: "float32", shape: [1, 2] }))).toBe("INPUT_INVALID");
    // A shape error names both whole shapes, not only the first dimension that differs.
    expect(() => fitToSpec({ dtype: "float32", shape: [1, 3, 48, 100], data: new Float32Array(14400) }, { dtype: "float32", shape: [1, 3, 48, 192] })).toThrow(
      "(the input is float32[1,3,48,100]; the model takes float32[1,3,48,192])",
    );
    expect(fitToSpec({ dtype: "float32", shape: [1, 5], data: new Float32Array(5) }, { dtype: "float32", shape: [1, 0] }).shape).toEqual([1, 5]);
  });

  it("PNG: gray, RGB and RGBA images decode exactly under every filter type; alpha composites onto white", () => {
    const w = 13, h = 11;
    for (const channels of [1, 3, 4] as const) {
      const pixels = Uint8Array.from({ length: w * h * channels }, (_, i) => (i * 37 + (i >> 3) * 11) & 0xff);
      const img = decodePng(pngWithFilters(w, h, channels, pixels));
      expect([img.width, img.height]).toEqual([w, h]);
      for (let i = 0; i < w * h; i++) {
        for (let c = 0; c < 3; c++) {
          const v = channels === 1 ? pixels[i]! : pixels[i * channels + c]!;
          const alpha = channels === 4 ? pixels[i * 4 + 3]! : 255;
          expect(img.rgb[i * 3 + c]).toBe(Math.round((v * alpha + 255 * (255 - alpha)) / 255));
        }
      }
    }
    const rgb = Uint8Array.from({ length: 5 * 4 * 3 }, (_, i) => i * 4);
    expect(Array.from(decodePng(encodePng(5, 4, rgb, 3)).rgb)).toEqual(Array.from(rgb));
    expect(code(() => decodePng(Buffer.from("\x89PNG\r\n\x1a\nbroken", "latin1")))).toBe("INPUT_INVALID");
  });

  it("PNG files from another encoder (netpbm's pnmtopng): 16-bit Adam7-interlaced RGB, 4-bit paletted with tRNS, 2-bit gray; interlaced 2-bit gray is refused", () => {
    // Made from 13x11 pictures defined by the formulas below (see test/sdk/fixtures/README.md).
    const w = 13, h = 11;
    const read = (f: string) => decodePng(readFileSync(new URL(`./fixtures/${f}`, import.meta.url)));
    const rgb16 = read("rgb16-adam7.png"); // samples v * 256 + noise: the 8-bit level is v
    const palette = read("palette-trns.png"); // 16 colors, color 5 fully transparent
    const gray2 = read("gray2.png"); // levels 0..3
    expect(code(() => read("gray2-adam7.png"))).toBe("INPUT_FORMAT_UNSUPPORTED"); // fast-png 8.0 misreads sub-byte Adam7
    const colors = Array.from({ length: 16 }, (_, i) => [i * 16, 255 - i * 16, (i * 40) & 0xff]);
    for (const img of [rgb16, palette, gray2]) expect([img.width, img.height]).toEqual([w, h]);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const at = (img: { rgb: Uint8Array }) => Array.from(img.rgb.subarray(3 * (y * w + x), 3 * (y * w + x) + 3));
        expect(at(rgb16)).toEqual([0, 1, 2].map((c) => (x * 37 + y * 11 + c * 85) & 0xff));
        expect(at(palette)).toEqual((x + y) % 16 === 5 ? [255, 255, 255] : colors[(x + y) % 16]);
        expect(at(gray2)).toEqual(Array(3).fill(((x * y) % 4) * 85));
      }
    }
  });

  it("image model cards: a gray text line gives the classifier the same tensor as the demo's preprocessing; MNIST pictures are inverted when dark on light", () => {
    const line = renderTextLine("Proof of compute");
    const viaPng = ppocrClsTensor(decodePng(encodePng(line.width, line.height, line.pixels, 1)));
    const reference = clsTensor(line);
    expect(viaPng.shape).toEqual([1, 3, 48, 192]);
    (viaPng.data as Float32Array).forEach((v, i) => expect(v).toBeCloseTo((reference.data as Float32Array)[i]!, 5));

    const dark = new Uint8Array(28 * 28); // a white bar on black, and the same drawn black on white
    for (let y = 4; y < 24; y++) for (let x = 12; x < 16; x++) dark[y * 28 + x] = 255;
    const light = dark.map((v) => 255 - v);
    const a = mnistTensor(decodePng(encodePng(28, 28, dark, 1)));
    const b = mnistTensor(decodePng(encodePng(28, 28, light, 1)));
    expect(a.shape).toEqual([1, 7, 7]);
    expect(Array.from(a.data as Int8Array)).toEqual(Array.from(b.data as Int8Array));
    expect(Math.max(...(a.data as Int8Array))).toBe(127);

    expect(describeOutput({ dtype: "float32", shape: [1, 2], data: Float32Array.from([0.1, 0.9]) }, PPOCR_CLS_HASH).top).toEqual({ index: 1, label: "upside down (180°)", score: expect.closeTo(0.9, 5) });
    expect(describeOutput({ dtype: "int8", shape: [1, 10], data: Int8Array.from([0, 0, 0, 90, 0, 0, 0, 0, 0, 1]) }, MNIST_MLP_HASH).top).toMatchObject({ index: 3, label: "3" });
  });
});

describe("sdk JPEG decoder", () => {
  const fixture = JSON.parse(readFileSync(new URL("./fixtures/chromium-jpeg.json", import.meta.url), "utf8")) as { width: number; height: number; jpeg: string; rgba: string };
  const jpeg = Buffer.from(fixture.jpeg, "base64");

  it("decodes a baseline 4:2:0 JPEG from Chromium's encoder to what Chromium decodes (chroma upsampling aside)", () => {
    const img = decodeJpeg(jpeg);
    expect([img.width, img.height]).toEqual([fixture.width, fixture.height]);
    const ref = Buffer.from(fixture.rgba, "base64");
    let sum = 0;
    let max = 0;
    for (let i = 0; i < img.width * img.height; i++) {
      for (let c = 0; c < 3; c++) {
        const d = Math.abs(img.rgb[3 * i + c]! - ref[4 * i + c]!);
        sum += d;
        max = Math.max(max, d);
      }
    }
    // Measured (jpeg-js): mean 4.48, max 33 (Chromium's libjpeg-turbo interpolates chroma; jpeg-js replicates it).
    expect(sum / (img.width * img.height * 3)).toBeLessThan(6);
    expect(max).toBeLessThan(48);
  });

  it("a progressive JPEG (the same picture through jpegtran -progressive: the same coefficients in 10 scans) decodes to the same pixels", () => {
    const progressive = readFileSync(new URL("./fixtures/chromium-progressive.jpg", import.meta.url));
    expect(progressive.includes(Buffer.from([0xff, 0xc2]))).toBe(true);
    const a = decodeJpeg(progressive);
    const b = decodeJpeg(jpeg);
    expect([a.width, a.height]).toEqual([b.width, b.height]);
    expect(Buffer.from(a.rgb).equals(Buffer.from(b.rgb))).toBe(true);
  });

  it("refuses arithmetic-coded, 12-bit and truncated files with their codes", () => {
    const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
    const arithmetic = Buffer.from(jpeg);
    arithmetic[sof + 1] = 0xc9;
    expect(code(() => decodeJpeg(arithmetic))).toBe("INPUT_FORMAT_UNSUPPORTED");
    const twelveBit = Buffer.from(jpeg);
    twelveBit[sof + 4] = 12;
    expect(code(() => decodeJpeg(twelveBit))).toBe("INPUT_FORMAT_UNSUPPORTED");
    expect(code(() => decodeJpeg(jpeg.subarray(0, jpeg.byteLength >> 1)))).toBe("INPUT_INVALID");
    expect(code(() => decodeJpeg(Buffer.from("not a jpeg")))).toBe("INPUT_INVALID");
  });
});

/**
 * Real inputs for the PP-OCR text-direction classifier (ch_ppocr_mobile_v2.0_cls): a line of text
 * rendered with a small built-in 5x7 bitmap font, then preprocessed the way PaddleOCR's cls stage
 * does it (resize to height 48 keeping the aspect ratio, width capped at 192; x/255 → (x-0.5)/0.5;
 * right-padded with zeros to width 192), as a float32 [1, 3, 48, 192] tensor.
 *
 *   textLineTensor("Honest workers win")                  // upright: the model says index 0
 *   textLineTensor("Honest workers win", { rotated: true }) // upside down: index 1
 *
 * Lowercase letters are drawn as capitals. Rendering is deterministic: position jitter comes from
 * a PRNG seeded by the text (or `seed`).
 */
import { seededRandom, type Tensor } from "../protocol/index.js";

/** The classifier's input: [1, 3, CLS_HEIGHT, CLS_WIDTH]. */
export const CLS_HEIGHT = 48;
export const CLS_WIDTH = 192;

// 5x7 glyphs, one string per row, "#" = ink.
const GLYPHS: Record<string, readonly string[]> = {
  A: [".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"],
  B: ["####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."],
  C: [".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."],
  D: ["####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."],
  E: ["#####", "#....", "#....", "####.", "#....", "#....", "#####"],
  F: ["#####", "#....", "#....", "####.", "#....", "#....", "#...."],
  G: [".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"],
  H: ["#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"],
  I: [".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."],
  J: ["..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."],
  K: ["#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"],
  L: ["#....", "#....", "#....", "#....", "#....", "#....", "#####"],
  M: ["#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"],
  N: ["#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"],
  O: [".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."],
  P: ["####.", "#...#", "#...#", "####.", "#....", "#....", "#...."],
  Q: [".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"],
  R: ["####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"],
  S: [".####", "#....", "#....", ".###.", "....#", "....#", "####."],
  T: ["#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."],
  U: ["#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."],
  V: ["#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."],
  W: ["#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."],
  X: ["#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"],
  Y: ["#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."],
  Z: ["#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"],
  "0": [".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."],
  "1": ["..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."],
  "2": [".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"],
  "3": ["#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."],
  "4": ["...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."],
  "5": ["#####", "#....", "####.", "....#", "....#", "#...#", ".###."],
  "6": ["..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."],
  "7": ["#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."],
  "8": [".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."],
  "9": [".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."],
  " ": [".....", ".....", ".....", ".....", ".....", ".....", "....."],
  ".": [".....", ".....", ".....", ".....", ".....", ".##..", ".##.."],
  ",": [".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."],
  "!": ["..#..", "..#..", "..#..", "..#..", "..#..", ".....", "..#.."],
  "?": [".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."],
  "-": [".....", ".....", ".....", "#####", ".....", ".....", "....."],
  "+": [".....", "..#..", "..#..", "#####", "..#..", "..#..", "....."],
  ":": [".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."],
  ";": [".....", ".##..", ".##..", ".....", ".##..", "..#..", ".#..."],
  "'": ["..#..", "..#..", ".#...", ".....", ".....", ".....", "....."],
  '"': [".#.#.", ".#.#.", ".....", ".....", ".....", ".....", "....."],
  "/": [".....", "....#", "...#.", "..#..", ".#...", "#....", "....."],
  "(": ["...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."],
  ")": [".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."],
  "&": [".##..", "#..#.", "#.#..", ".#...", "#.#.#", "#..#.", ".##.#"],
  "%": ["##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##"],
  "=": [".....", ".....", "#####", ".....", "#####", ".....", "....."],
  "#": [".#.#.", ".#.#.", "#####", ".#.#.", "#####", ".#.#.", ".#.#."],
};

const GLYPH_W = 5;
const GLYPH_H = 7;

/** Characters the font can draw (lowercase letters map to capitals; anything else draws as "?"). */
export const FONT_CHARACTERS = Object.keys(GLYPHS).join("");

export interface TextLineOptions {
  /** Draw the line upside down (rotated 180°), as a text detector may crop it. */
  rotated?: boolean;
  /** Jitter seed; by default derived from the text. */
  seed?: number;
  /** Source pixels per font pixel (the line is about 7 x scale pixels tall before resizing). Default 4. */
  scale?: number;
  /** Extra ink columns per font pixel column (bolder strokes). Default 1. */
  bold?: number;
}

/** A grayscale image, 0 = black, 255 = white. */
export interface GrayImage {
  width: number;
  height: number;
  pixels: Uint8Array;
}

function seedOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Renders `text` black on white: a tight-ish crop like a text detector's box, with a little jitter. */
export function renderTextLine(text: string, options: TextLineOptions = {}): GrayImage {
  const scale = options.scale ?? 4;
  const bold = options.bold ?? 1;
  const random = seededRandom(options.seed ?? seedOf(text));
  const chars = [...text.toUpperCase()];
  const advance = (GLYPH_W + 1) * scale;
  const marginX = Math.round(scale * (1 + random() * 1.5));
  const marginY = Math.round(scale * (1 + random() * 1));
  const width = marginX * 2 + Math.max(1, chars.length) * advance;
  const height = marginY * 2 + GLYPH_H * scale + scale; // one font pixel of slack for baseline jitter
  const pixels = new Uint8Array(width * height).fill(255);
  let x0 = marginX;
  for (const ch of chars) {
    const glyph = GLYPHS[ch] ?? GLYPHS["?"]!;
    const dy = Math.round(random() * scale); // baseline wobble within the slack row
    const dx = Math.round((random() - 0.5) * scale * 0.5);
    for (let gy = 0; gy < GLYPH_H; gy++) {
      const row = glyph[gy]!;
      for (let gx = 0; gx < GLYPH_W; gx++) {
        if (row[gx] !== "#") continue;
        const left = x0 + dx + gx * scale;
        const top = marginY + dy + gy * scale;
        for (let y = top; y < top + scale; y++) {
          for (let x = left; x < left + scale + bold; x++) {
            if (x >= 0 && x < width && y >= 0 && y < height) pixels[y * width + x] = 0;
          }
        }
      }
    }
    x0 += advance;
  }
  return { width, height, pixels };
}

/** Rotates an image by 180° (a new image). */
export function rotateImage180(image: GrayImage): GrayImage {
  const pixels = new Uint8Array(image.pixels.length);
  for (let i = 0; i < pixels.length; i++) pixels[i] = image.pixels[pixels.length - 1 - i]!;
  return { width: image.width, height: image.height, pixels };
}

/** Bilinear resize with pixel-center alignment (OpenCV's INTER_LINEAR convention). */
export function resizeBilinear(image: GrayImage, width: number, height: number): Float32Array {
  const out = new Float32Array(width * height);
  const sx = image.width / width;
  const sy = image.height / height;
  for (let y = 0; y < height; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), image.height - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, image.height - 1);
    const wy = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), image.width - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, image.width - 1);
      const wx = fx - x0;
      const p = image.pixels;
      const top = p[y0 * image.width + x0]! * (1 - wx) + p[y0 * image.width + x1]! * wx;
      const bottom = p[y1 * image.width + x0]! * (1 - wx) + p[y1 * image.width + x1]! * wx;
      out[y * width + x] = top * (1 - wy) + bottom * wy;
    }
  }
  return out;
}

/**
 * PaddleOCR's cls preprocessing (ClsResizeImg / resize_norm_img): keep the aspect ratio at height
 * 48, cap the width at 192, scale to [-1, 1], right-pad with zeros. Gray, so BGR order is moot.
 */
export function clsTensor(image: GrayImage): Tensor {
  const resizedW = Math.min(CLS_WIDTH, Math.ceil((CLS_HEIGHT * image.width) / image.height));
  const gray = resizeBilinear(image, resizedW, CLS_HEIGHT);
  const data = new Float32Array(3 * CLS_HEIGHT * CLS_WIDTH); // zeros = the padding
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < CLS_HEIGHT; y++) {
      for (let x = 0; x < resizedW; x++) {
        data[c * CLS_HEIGHT * CLS_WIDTH + y * CLS_WIDTH + x] = (gray[y * resizedW + x]! / 255 - 0.5) / 0.5;
      }
    }
  }
  return { dtype: "float32", shape: [1, 3, CLS_HEIGHT, CLS_WIDTH], data };
}

/** A text line as the classifier's input tensor, upright or upside down. */
export function textLineTensor(text: string, options: TextLineOptions = {}): Tensor {
  const image = renderTextLine(text, options);
  return clsTensor(options.rotated === true ? rotateImage180(image) : image);
}

/**
 * Rotates an [N, C, H, W] tensor by 180° in its last two axes. Note: applied to a padded cls
 * tensor this moves the padding to the left; `textLineTensor(text, { rotated: true })` rotates the
 * image before padding, as a detector's upside-down crop would be.
 */
export function rotate180(tensor: Tensor): Tensor {
  const [n = 1, c = 1, h = 1, w = 1] = tensor.shape;
  if (tensor.shape.length !== 4) throw new RangeError(`rotate180 expects [N, C, H, W], got [${tensor.shape}]`);
  const src = tensor.data as Float32Array;
  const data = new (src.constructor as Float32ArrayConstructor)(src.length);
  const plane = h * w;
  for (let p = 0; p < n * c; p++) {
    const base = p * plane;
    for (let i = 0; i < plane; i++) data[base + i] = src[base + plane - 1 - i]!;
  }
  return { dtype: tensor.dtype, shape: [...tensor.shape], data };
}

/** Forty short phrases for demos and the accuracy measurement. */
export const PHRASES: readonly string[] = [
  "Honest workers win",
  "Verifiable inference",
  "Hello, world!",
  "Proof of compute",
  "ONNX on chain",
  "Stake and sign",
  "Fraud proofs work",
  "The quick brown fox",
  "jumps over the dog",
  "Merkle roots",
  "Batch 42 settled",
  "Open challenge window",
  "GPU or CPU?",
  "Text direction test",
  "Upside down lines",
  "Read the manual",
  "Invoice 2024-117",
  "Total: 1,250.00",
  "Please sign here",
  "Meeting at 10:30",
  "Room 404 not found",
  "Oracle answered",
  "Deadline missed",
  "Refund issued",
  "Zero knowledge",
  "Trace committed",
  "Optimistic tier",
  "Relayer online",
  "Queue depth 7",
  "Model registry",
  "Weights verified",
  "Hash mismatch!",
  "Slashed for fraud",
  "Keep calm",
  "North by northwest",
  "Coffee and code",
  "Version 1.30.0",
  "Ship it (today)",
  "All tests pass",
  "Good night",
];

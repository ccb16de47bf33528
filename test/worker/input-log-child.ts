/**
 * A process that keeps writing inputs to an input cache until it is killed (test/worker/input-log.test.ts):
 * four puts at a time (so records share a write), printing each request number once its put resolved.
 * Usage: node --import tsx test/worker/input-log-child.ts <dir>
 */
import { encodeTensor, hashEncoded } from "../../protocol/index.js";
import { InputCache } from "../../worker/input-cache.js";

const cache = new InputCache({ dir: process.argv[2]!, segmentBytes: 1 << 20 });
const id = (n: number) => `0x${n.toString(16).padStart(64, "0")}`;
for (let n = 1; ; n += 4) {
  await Promise.all(
    [n, n + 1, n + 2, n + 3].map(async (k) => {
      const bytes = encodeTensor({ dtype: "float32", shape: [16_384], data: new Float32Array(16_384).fill(k) });
      await cache.put(id(k), hashEncoded(bytes), bytes);
      process.stdout.write(`${k}\n`);
    }),
  );
}

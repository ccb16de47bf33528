/**
 * The child side of worker/model-process.ts: one onnxruntime session in a process of its own.
 * Plain CommonJS (it needs nothing but onnxruntime-node) so it runs the same under tsx, vitest and
 * node. Messages use Node's "advanced" IPC serialization: tensors travel as their raw bytes, in the
 * message (Uint8Array) or, when large, as a run slot's file in the parent's private tmpfs folder, never as
 * JSON arrays of numbers. The parent watches this process's memory and time
 * and kills it on a breach; nothing here needs to cooperate.
 */
"use strict";
const fs = require("node:fs");
const ort = require(process.env.ORACLE_ORT_PATH);

const ARRAYS = {
  float32: Float32Array, float64: Float64Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array,
  int16: Int16Array, uint16: Uint16Array, float16: Uint16Array, int32: Int32Array, uint32: Uint32Array,
  int64: BigInt64Array, uint64: BigUint64Array,
};
let session;

function bytesOf(view) {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

// A run slot's files stay open and are overwritten in place (worker/tensor-files.ts): one positioned
// read or write per tensor; the message names how many of a file's bytes are the tensor's.
const fds = new Map();
function fdOf(path, flags) {
  let fd = fds.get(path);
  if (fd === undefined) {
    fd = fs.openSync(path, flags, 0o600);
    fds.set(path, fd);
  }
  return fd;
}
function readSlot(path, length) {
  const b = Buffer.allocUnsafeSlow(length);
  const fd = fdOf(path, "r");
  for (let done = 0; done < length; ) {
    const n = fs.readSync(fd, b, done, length - done, done);
    if (n === 0) throw new Error(`input file holds ${done} bytes, the message says ${length}`);
    done += n;
  }
  return b;
}
const sizes = new Map();
function writeSlot(path, bytes) {
  const fd = fdOf(path, "w+");
  for (let done = 0; done < bytes.byteLength; ) done += fs.writeSync(fd, bytes, done, bytes.byteLength - done, done);
  // Cut a file an earlier, larger output left longer (tmpfs is memory).
  if ((sizes.get(path) || 0) > bytes.byteLength) fs.ftruncateSync(fd, bytes.byteLength);
  sizes.set(path, bytes.byteLength);
}

function fail(id, e) {
  process.send({ id, ok: false, error: String((e && e.message) || e) });
}

process.on("message", async (msg) => {
  if (msg.op === "open") {
    try {
      session = await ort.InferenceSession.create(msg.model, msg.options);
      process.send({ id: msg.id, ok: true, inputNames: session.inputNames, outputNames: session.outputNames,
        inputMetadata: session.inputMetadata, outputMetadata: session.outputMetadata });
    } catch (e) {
      fail(msg.id, e);
    }
  } else if (msg.op === "run") {
    try {
      const feeds = {};
      for (const [name, t] of Object.entries(msg.feeds)) {
        const A = ARRAYS[t.type];
        if (A === undefined) throw new Error(`input ${name}: ${t.type} tensors cannot cross to the model process`);
        // Large tensors come as a file in the parent's private tmpfs folder, small ones in the message.
        const b = t.path !== undefined ? readSlot(t.path, t.bytes) : t.data;
        const aligned = b.byteOffset % A.BYTES_PER_ELEMENT === 0 ? b : b.slice();
        feeds[name] = new ort.Tensor(t.type, new A(aligned.buffer, aligned.byteOffset, aligned.byteLength / A.BYTES_PER_ELEMENT), t.dims);
      }
      const results = await session.run(feeds, msg.fetches);
      const outputs = {};
      let k = 0;
      for (const [name, t] of Object.entries(results)) {
        if (!ArrayBuffer.isView(t.data)) throw new Error(`output ${name}: ${t.type} tensors cannot cross back from the model process`);
        const bytes = bytesOf(t.data);
        if (msg.outDir !== undefined && bytes.byteLength >= msg.fileBytes) {
          const path = `${msg.outDir}/out-${msg.slot}-${k++}.bin`;
          writeSlot(path, bytes);
          outputs[name] = { type: t.type, dims: Array.from(t.dims), path, bytes: bytes.byteLength };
        } else {
          outputs[name] = { type: t.type, dims: Array.from(t.dims), data: bytes };
        }
      }
      process.send({ id: msg.id, ok: true, outputs });
    } catch (e) {
      fail(msg.id, e);
    }
  } else if (msg.op === "release") {
    try {
      if (session) await session.release();
    } catch {}
    session = undefined;
    process.send({ id: msg.id, ok: true }, () => process.exit(0));
  }
});
process.on("disconnect", () => process.exit(0));

// An orphan guard on a thread of its own: onnxruntime runs block this process's JS thread (a
// `disconnect` is handled only after the run), so if the worker dies while a hostile model runs
// forever, nothing else would stop it. The thread polls the parent pid and kills this process as
// soon as it is reparented.
const { Worker } = require("node:worker_threads");
const guard = new Worker(
  `const { workerData } = require("node:worker_threads");
   setInterval(() => { if (process.ppid !== workerData.parent) process.kill(workerData.self, "SIGKILL"); }, 250);`,
  { eval: true, workerData: { parent: process.ppid, self: process.pid } },
);
guard.unref();

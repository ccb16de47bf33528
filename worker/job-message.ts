/** The worker's queue messages (worker/worker.ts): the job as it reads it (JobSchema with a cheap input check, the inline input's bytes) and the signed rejection it writes. */
import type { TypedDataDomain } from "ethers";
import { z } from "zod";
import {
  isEmptyInline,
  JobSchema,
  MAX_INLINE_TENSOR_BYTES,
  RejectionMessageSchema,
  type Job,
  type RejectionMessage,
  type RequestId,
} from "../protocol/index.js";
import { publicRejectionMessage, type JobRejection } from "./errors.js";
import type { FastSigner } from "./signer.js";

/**
 * JobSchema with a cheap check of `input` (prefix and even length): a regex over a 220 KB hex
 * string costs ~0.3-0.5 ms a job. The charset is checked where the hex is decoded (a short decode
 * is the same dead letter with the same message), so the worker accepts exactly what JobSchema does.
 */
export const HEX_BYTES_MESSAGE = "expected 0x-prefixed hex bytes";

/** The input: raw bytes (binary envelope: no decode at all) or 0x-hex (a JSON job). */
export const WorkerJobSchema = JobSchema.extend({
  input: z.union([
    z.string().refine((s) => s.startsWith("0x") && s.length % 2 === 0, HEX_BYTES_MESSAGE),
    z.custom<Uint8Array>((v) => v instanceof Uint8Array).refine((b) => b.byteLength <= MAX_INLINE_TENSOR_BYTES, `at most ${MAX_INLINE_TENSOR_BYTES} bytes inline`),
  ], { message: `${HEX_BYTES_MESSAGE} or raw bytes` }),
});

/** A Buffer over the same memory (no copy). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Decodes 0x-hex; undefined unless every character is a hex digit. */
export function decodeHexStrict(hex: string): Buffer | undefined {
  const bytes = Buffer.from(hex.length === 2 ? "" : hex.slice(2), "hex");
  return bytes.byteLength * 2 === hex.length - 2 ? bytes : undefined;
}

/** The signed rejection of a job whose request is at fault (the requester is refunded). */
export function signedRejection(signer: FastSigner, domain: TypedDataDomain, job: Job, rejection: JobRejection): RejectionMessage {
  const reason = rejection.reason;
  const signature = signer.signRejection(domain, { requestId: job.requestId as RequestId, reason });
  return RejectionMessageSchema.parse({
    kind: "rejection",
    chainId: job.chainId,
    oracle: job.oracle,
    requestId: job.requestId,
    reason,
    code: rejection.error.code,
    // Public: generic where the detail would reflect the worker's files or internal hosts (worker/errors.ts).
    message: publicRejectionMessage(rejection.error, isEmptyInline(job.input) ? "fetched" : "inline"),
    signer: signer.address,
    signature,
    observedAt: job.observedAt,
    ...(rejection.inputProof === undefined ? {} : { inputHeader: rejection.inputProof.header, inputDataRoot: rejection.inputProof.dataRoot }),
  } satisfies RejectionMessage);
}

/** protocol/hex.ts: the one home of the protocol's 0x patterns (schemas, envelope, CLI and relayer use these). */
import { describe, expect, it } from "vitest";
import { HexBytesSchema, bytesOf, hashAbbreviation, isZeroHex } from "../../protocol/index.js";

const HASH = `0x${"ab12".repeat(16)}`;

describe("hex patterns", () => {
  it("hex bytes: an even number of digits after 0x, and a 10 MB string is refused without overflowing the stack", () => {
    expect(HexBytesSchema.safeParse("0x").success).toBe(true);
    expect(HexBytesSchema.safeParse("0xABcd").success).toBe(true);
    expect(HexBytesSchema.safeParse("0xabc").success).toBe(false);
    expect(HexBytesSchema.safeParse("abcd").success).toBe(false);
    expect(bytesOf("0x0aff")).toEqual(Buffer.from([0x0a, 0xff]));
    expect(() => bytesOf(`0x${"ab".repeat(5_000_000)}g`)).toThrow(expect.objectContaining({ code: "MESSAGE_INVALID" }));
  });

  it("zero: the zero address and the zero hash, nothing else", () => {
    expect(isZeroHex(`0x${"0".repeat(40)}`)).toBe(true);
    expect(isZeroHex(`0x${"0".repeat(64)}`)).toBe(true);
    expect(isZeroHex(`0x${"0".repeat(39)}1`)).toBe(false);
    expect(isZeroHex("0x")).toBe(false);
    expect(isZeroHex("0")).toBe(false);
  });

  it("hash abbreviations: a prefix of 4 or more digits, or head…tail as `model list` prints it; not a full hash", () => {
    expect(hashAbbreviation("0xab12")).toEqual({ head: "0xab12", tail: "" });
    expect(hashAbbreviation("0xab1")).toBeUndefined();
    expect(hashAbbreviation("0xab12…ab12")).toEqual({ head: "0xab12", tail: "ab12" });
    expect(hashAbbreviation("0xab12...ab12")).toEqual({ head: "0xab12", tail: "ab12" });
    expect(hashAbbreviation("0xab12..ab12")).toEqual({ head: "0xab12", tail: "ab12" });
    expect(hashAbbreviation(HASH)).toBeUndefined();
    expect(hashAbbreviation("resnet")).toBeUndefined();
    expect(hashAbbreviation("0xAB12")).toBeUndefined(); // the CLI lower-cases first
  });
});

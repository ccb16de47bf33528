/** ModelRegistry's named inputs and outputs (registerModelIO, modelIO): issue 14, several inputs and outputs. */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { expectRevert, events, modelInfo, send, MODEL_HASH, type Connection } from "./helpers.js";
import { bundleHashOf, bytesToHex, encodeBundle, hashBundleEncoded, hashTensor, sha256 } from "../../protocol/index.js";

const HASH_IO = "0x" + "cc".repeat(32);
const INPUTS = [
  { name: "input", dtype: 1, shape: [1, 64] },
  { name: "sr", dtype: 7, shape: [] },
  { name: "state", dtype: 1, shape: [1, 1, 8] },
];
const OUTPUTS = [
  { name: "output", dtype: 1, shape: [1, 1] },
  { name: "stateN", dtype: 1, shape: [1, 1, 8] },
];

async function fixture({ ethers }: Connection) {
  const all = await ethers.getSigners();
  const [admin, owner, other] = [all[0]!, all[1]!, all[2]!] as const;
  const registry = await ethers.deployContract("ModelRegistry", [admin.address]);
  await registry.connect(owner).registerModel(MODEL_HASH, modelInfo({ tiers: 1 }));
  return { registry, owner, other };
}

const plain = (specs: readonly { name: string; dtype: bigint; shape: readonly bigint[] }[]) => specs.map((s) => ({ name: s.name, dtype: Number(s.dtype), shape: s.shape.map(Number) }));

describe("ModelRegistry named inputs and outputs", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const load = () => conn.networkHelpers.loadFixture(fixture);

  it("test_registerModelIO_stateful_readsBackEveryNamedSpec", async () => {
    const { registry, owner } = await load();
    const receipt = await send(registry.connect(owner).registerModelIO(HASH_IO, modelInfo({ tiers: 1 }), INPUTS, OUTPUTS));
    expect(events(receipt, registry, "ModelRegistered")[0]!.args.owner).toBe(owner.address);
    const [io] = events(receipt, registry, "ModelIOSet");
    expect([io!.args.inputs, io!.args.outputs]).toEqual([3n, 2n]);
    const [inputs, outputs] = await registry.modelIO(HASH_IO);
    expect(plain(inputs)).toEqual(INPUTS);
    expect(plain(outputs)).toEqual(OUTPUTS);
    // model().input / output read back as the first named input / output.
    const info = await registry.model(HASH_IO);
    expect([Number(info.input.dtype), info.input.shape.map(Number)]).toEqual([1, [1, 64]]);
    expect([Number(info.output.dtype), info.output.shape.map(Number)]).toEqual([1, [1, 1]]);
  });

  it("test_modelIO_registeredWithoutNames_oneUnnamedEach", async () => {
    const { registry } = await load();
    const [inputs, outputs] = await registry.modelIO(MODEL_HASH);
    expect(plain(inputs)).toEqual([{ name: "", dtype: 1, shape: [1, 3, 48, 192] }]);
    expect(plain(outputs)).toEqual([{ name: "", dtype: 1, shape: [1, 2] }]);
  });

  it("test_updateModel_namedModel_keepsItsSpecs", async () => {
    const { registry, owner } = await load();
    await send(registry.connect(owner).registerModelIO(HASH_IO, modelInfo({ tiers: 1 }), INPUTS, OUTPUTS));
    // An update cannot swap a named model's specs through info.input / info.output: they are the file's.
    await send(registry.connect(owner).updateModel(HASH_IO, modelInfo({ tiers: 1, fee: 9n, input: { dtype: 3, shape: [7] } })));
    const info = await registry.model(HASH_IO);
    expect(info.fee).toBe(9n);
    expect([Number(info.input.dtype), info.input.shape.map(Number)]).toEqual([1, [1, 64]]);
    expect(plain((await registry.modelIO(HASH_IO))[0])).toEqual(INPUTS);
  });

  it("test_registerModelIO_badSpecs_revertWithTheReason", async () => {
    const { registry, owner } = await load();
    const r = registry.connect(owner);
    const cases: [unknown[], unknown[], string][] = [
      [[], OUTPUTS, "inputs: 1..255 needed"],
      [INPUTS, [], "outputs: 1..255 needed"],
      [[INPUTS[1], INPUTS[0], INPUTS[2]], OUTPUTS, "input: names not strictly ascending at input"],
      [[INPUTS[0], INPUTS[0]], OUTPUTS, "input: names not strictly ascending at input"],
      [[{ name: "", dtype: 1, shape: [1] }], OUTPUTS, "input: name of 1..255 bytes needed"],
      [[{ name: "x".repeat(256), dtype: 1, shape: [1] }], OUTPUTS, "input: name of 1..255 bytes needed"],
      [[INPUTS[0], { name: "sr", dtype: 8, shape: [] }], OUTPUTS, "input sr: unsupported dtype"],
      [INPUTS, [{ name: "y", dtype: 1, shape: [1, 1, 1, 1, 1, 1, 1, 1, 1] }], "output y: rank above 8"],
    ];
    for (const [inputs, outputs, reason] of cases) {
      await expectRevert(r.registerModelIO(HASH_IO, modelInfo({ tiers: 1 }), inputs as never, outputs as never), registry, "RegistryInvalidSpec", [reason]);
    }
    await expectRevert(r.registerModelIO(MODEL_HASH, modelInfo({ tiers: 1 }), INPUTS, OUTPUTS), registry, "RegistryModelAlreadyRegistered", [MODEL_HASH]);
    expect(await registry.isRegistered(HASH_IO)).toBe(false);
  });

  it("test_registerModelIO_severalInputs_noneAndOptimistic_neverZk", async () => {
    const { registry, owner } = await load();
    const r = registry.connect(owner);
    // ZK: a proof checks one input tensor and one output; refused at registration and update. OPTIMISTIC: the
    // fraud game proves bundle members (issue 14: FraudGame.openBundle over bundleHash).
    for (const tiers of [4, 5, 7]) {
      await expectRevert(r.registerModelIO(HASH_IO, modelInfo({ tiers }), INPUTS, OUTPUTS), registry, "RegistryInvalidTiers", [tiers]);
    }
    await send(r.registerModelIO(HASH_IO, modelInfo({ tiers: 1 }), INPUTS, OUTPUTS));
    await expectRevert(r.updateModel(HASH_IO, modelInfo({ tiers: 5 })), registry, "RegistryInvalidTiers", [5]);
    // OPTIMISTIC passes the tier check (and, like any model's, needs an approved resolver).
    await expectRevert(r.updateModel(HASH_IO, modelInfo({ tiers: 3 })), registry, "RegistryResolverNotApproved");
    // One named input and output: any tier its terms allow (here ZK needs an approved verifier).
    const one = "0x" + "dd".repeat(32);
    await expectRevert(r.registerModelIO(one, modelInfo({ tiers: 5 }), INPUTS.slice(0, 1), OUTPUTS.slice(0, 1)), registry, "RegistryResolverNotApproved");
  });

  it("test_bundleHash_goldenWithProtocolBundleTs_andRefusesAnotherCount", async () => {
    const { registry, owner } = await load();
    await send(registry.connect(owner).registerModelIO(HASH_IO, modelInfo({ tiers: 1 }), INPUTS, OUTPUTS));
    const hash = (i: number) => bytesToHex(sha256(Buffer.from(`entry ${i}`)));
    const ins = INPUTS.map((_, i) => hash(i));
    const outs = OUTPUTS.map((_, i) => hash(10 + i));
    // The registry's names, in their (canonical) order, with the given tensor hashes: protocol/bundle.ts bundleHashOf.
    expect(await registry.bundleHash(HASH_IO, false, ins)).toBe(bundleHashOf(INPUTS.map((x, i) => ({ name: x.name, hash: ins[i]! }))));
    expect(await registry.bundleHash(HASH_IO, true, outs)).toBe(bundleHashOf(OUTPUTS.map((x, i) => ({ name: x.name, hash: outs[i]! }))));
    // And the hash of a real bundle's encoding (hashBundleEncoded) for real tensors.
    const t = (n: number, shape: number[]) => ({ dtype: "float32" as const, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(n) });
    const tensors = { output: t(0.5, [1, 1]), stateN: t(-1, [1, 1, 8]) };
    expect(await registry.bundleHash(HASH_IO, true, [hashTensor(tensors.output), hashTensor(tensors.stateN)])).toBe(hashBundleEncoded(encodeBundle(tensors)));
    await expectRevert(registry.bundleHash(HASH_IO, false, ins.slice(0, 2)), registry, "RegistryInvalidSpec");
    await expectRevert(registry.bundleHash(HASH_IO, true, [...outs, hash(9)]), registry, "RegistryInvalidSpec");
    // A model with one input and one output has no bundle (its tensors travel bare).
    await expectRevert(registry.bundleHash(MODEL_HASH, false, [hash(0)]), registry, "RegistryInvalidSpec");
  });
});

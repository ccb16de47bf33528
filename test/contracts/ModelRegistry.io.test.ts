/** ModelRegistry's named inputs and outputs (registerModelIO, modelIO): issue 14, several inputs and outputs. */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { expectRevert, events, modelInfo, send, MODEL_HASH, type Connection } from "./helpers.js";

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

  it("test_registerModelIO_severalInputs_noneTierOnly", async () => {
    const { registry, owner } = await load();
    const r = registry.connect(owner);
    // OPTIMISTIC or ZK: no dispute or proof checks several tensors; refused at registration and update.
    for (const tiers of [2, 3, 5]) {
      await expectRevert(r.registerModelIO(HASH_IO, modelInfo({ tiers }), INPUTS, OUTPUTS), registry, "RegistryInvalidTiers", [tiers]);
    }
    await send(r.registerModelIO(HASH_IO, modelInfo({ tiers: 1 }), INPUTS, OUTPUTS));
    await expectRevert(r.updateModel(HASH_IO, modelInfo({ tiers: 3 })), registry, "RegistryInvalidTiers", [3]);
    // One named input and output: any tier its terms allow (here ZK needs an approved verifier).
    const one = "0x" + "dd".repeat(32);
    await expectRevert(r.registerModelIO(one, modelInfo({ tiers: 5 }), INPUTS.slice(0, 1), OUTPUTS.slice(0, 1)), registry, "RegistryResolverNotApproved");
  });
});

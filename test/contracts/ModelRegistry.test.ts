import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { ZeroAddress, ZeroHash } from "ethers";
import { expectRevert, events, modelInfo, send, MODEL_HASH, MODEL_FEE, type Connection } from "./helpers.js";

const HASH_B = "0x" + "bb".repeat(32);

async function registryFixture({ ethers }: Connection) {
  const all = await ethers.getSigners();
  const [admin, owner, other, resolver, verifier] = [all[0]!, all[1]!, all[2]!, all[3]!, all[4]!] as const;
  const registry = await ethers.deployContract("ModelRegistry", [admin.address]);
  await registry.setResolverApproval(resolver.address, true);
  await registry.setResolverApproval(verifier.address, true);
  await registry
    .connect(owner)
    .registerModel(MODEL_HASH, modelInfo({ resolver: resolver.address, zkVerifier: verifier.address }));
  return { ethers, registry, admin, owner, other, resolver, verifier };
}

describe("ModelRegistry", () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await network.create();
  });
  const fixture = () => conn.networkHelpers.loadFixture(registryFixture);

  it("test_constructor_zeroAdmin_reverts", async () => {
    const { ethers, registry } = await fixture();
    const factory = await ethers.getContractFactory("ModelRegistry");
    await expectRevert(factory.deploy(ZeroAddress), registry, "RegistryZeroAddress");
  });

  it("test_registerModel_valid_succeeds", async () => {
    const { registry, owner, other, resolver, verifier } = await fixture();
    // info.owner is ignored: the caller owns what it registers.
    const receipt = await send(
      registry.connect(other).registerModel(HASH_B, modelInfo({ owner: owner.address, tiers: 1, fee: 5n, uris: ["a", "b"] })),
    );
    const [ev] = events(receipt, registry, "ModelRegistered");
    expect(ev!.args.owner).toBe(other.address);
    expect(ev!.args.fee).toBe(5n);
    const info = await registry.model(HASH_B);
    expect(info.owner).toBe(other.address);
    expect(info.tiers).toBe(1n);
    expect([...info.uris]).toEqual(["a", "b"]);
    expect([...info.input.shape].map(Number)).toEqual([1, 3, 48, 192]);
    expect(await registry.isRegistered(HASH_B)).toBe(true);
    const t = await registry.terms(MODEL_HASH);
    expect(t.owner).toBe(owner.address);
    expect(t.fee).toBe(MODEL_FEE);
    expect(t.tiers).toBe(7n);
    expect(t.active).toBe(true);
    expect(t.resolver).toBe(resolver.address);
    expect(t.zkVerifier).toBe(verifier.address);
  });

  it("test_registerModel_zeroHash_reverts", async () => {
    const { registry, other } = await fixture();
    await expectRevert(registry.connect(other).registerModel(ZeroHash, modelInfo({ tiers: 1 })), registry, "RegistryZeroModelHash");
  });

  it("test_registerModel_twice_reverts", async () => {
    const { registry, other, resolver } = await fixture();
    await expectRevert(
      registry.connect(other).registerModel(MODEL_HASH, modelInfo({ tiers: 1, resolver: resolver.address })),
      registry,
      "RegistryModelAlreadyRegistered",
      [MODEL_HASH],
    );
  });

  it("test_registerModel_invalidTiers_reverts", async () => {
    const { registry, other } = await fixture();
    await expectRevert(registry.connect(other).registerModel(HASH_B, modelInfo({ tiers: 0 })), registry, "RegistryInvalidTiers", [0]);
    await expectRevert(registry.connect(other).registerModel(HASH_B, modelInfo({ tiers: 9 })), registry, "RegistryInvalidTiers", [9]);
  });

  it("test_registerModel_unapprovedResolverOrVerifier_reverts", async () => {
    const { registry, other, resolver } = await fixture();
    await expectRevert(registry.connect(other).registerModel(HASH_B, modelInfo({ tiers: 2 })), registry, "RegistryResolverNotApproved", [ZeroAddress]);
    await expectRevert(
      registry.connect(other).registerModel(HASH_B, modelInfo({ tiers: 4, zkVerifier: other.address })),
      registry,
      "RegistryResolverNotApproved",
      [other.address],
    );
    // A NONE-only model needs neither.
    await registry.connect(other).registerModel(HASH_B, modelInfo({ tiers: 1, resolver: resolver.address }));
  });

  it("test_registerModel_invalidSpec_reverts", async () => {
    const { registry, other } = await fixture();
    await expectRevert(
      registry.connect(other).registerModel(HASH_B, modelInfo({ tiers: 1, input: { dtype: 8, shape: [1] } })),
      registry,
      "RegistryInvalidSpec",
      ["input: unsupported dtype"],
    );
    await expectRevert(
      registry.connect(other).registerModel(HASH_B, modelInfo({ tiers: 1, output: { dtype: 1, shape: [1, 1, 1, 1, 1, 1, 1, 1, 1] } })),
      registry,
      "RegistryInvalidSpec",
      ["output: rank above 8"],
    );
  });

  it("test_updateModel_byOwner_succeeds", async () => {
    const { registry, owner, resolver, verifier } = await fixture();
    const receipt = await send(
      registry.connect(owner).updateModel(MODEL_HASH, modelInfo({ fee: 7n, active: false, resolver: resolver.address, zkVerifier: verifier.address, uris: [] })),
    );
    expect(events(receipt, registry, "ModelUpdated")).toHaveLength(1);
    const info = await registry.model(MODEL_HASH);
    expect(info.fee).toBe(7n);
    expect(info.active).toBe(false);
    expect(info.uris).toHaveLength(0);
    expect(info.owner).toBe(owner.address);
  });

  it("test_updateModel_notOwnerOrUnknown_reverts", async () => {
    const { registry, other } = await fixture();
    await expectRevert(registry.connect(other).updateModel(MODEL_HASH, modelInfo({ tiers: 1 })), registry, "RegistryNotModelOwner");
    await expectRevert(registry.connect(other).updateModel(HASH_B, modelInfo({ tiers: 1 })), registry, "RegistryModelNotFound", [HASH_B]);
    await expectRevert(registry.model(HASH_B), registry, "RegistryModelNotFound");
    await expectRevert(registry.terms(HASH_B), registry, "RegistryModelNotFound");
  });

  it("test_transferModelOwnership_succeeds", async () => {
    const { registry, owner, other } = await fixture();
    await expectRevert(registry.connect(owner).transferModelOwnership(MODEL_HASH, ZeroAddress), registry, "RegistryZeroAddress");
    const receipt = await send(registry.connect(owner).transferModelOwnership(MODEL_HASH, other.address));
    expect(events(receipt, registry, "ModelOwnershipTransferred")[0]!.args.newOwner).toBe(other.address);
    expect((await registry.terms(MODEL_HASH)).owner).toBe(other.address);
    await expectRevert(registry.connect(owner).transferModelOwnership(MODEL_HASH, owner.address), registry, "RegistryNotModelOwner");
  });

  it("test_setResolverApproval_revoked_termsReadZero", async () => {
    const { registry, admin, other, resolver, verifier } = await fixture();
    await expectRevert(registry.connect(other).setResolverApproval(other.address, true), registry, "RegistryNotAdmin", [other.address]);
    await expectRevert(registry.connect(admin).setResolverApproval(ZeroAddress, true), registry, "RegistryZeroAddress");
    await registry.connect(admin).setResolverApproval(resolver.address, false);
    await registry.connect(admin).setResolverApproval(verifier.address, false);
    expect(await registry.isApprovedResolver(resolver.address)).toBe(false);
    const t = await registry.terms(MODEL_HASH);
    expect(t.resolver).toBe(ZeroAddress);
    expect(t.zkVerifier).toBe(ZeroAddress);
    // model() still shows what the owner configured.
    expect((await registry.model(MODEL_HASH)).resolver).toBe(resolver.address);
  });

  it("test_transferAdmin_succeeds", async () => {
    const { registry, admin, other } = await fixture();
    await expectRevert(registry.connect(other).transferAdmin(other.address), registry, "RegistryNotAdmin");
    await expectRevert(registry.connect(admin).transferAdmin(ZeroAddress), registry, "RegistryZeroAddress");
    await registry.connect(admin).transferAdmin(other.address);
    expect(await registry.admin()).toBe(other.address);
    await registry.connect(other).setResolverApproval(admin.address, true);
  });
});

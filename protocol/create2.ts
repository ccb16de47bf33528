/**
 * Deterministic deployments (docs/FEATURES.md "Deterministic deployments"): every contract `oracle deploy`
 * places goes through Arachnid's deterministic deployment proxy, a CREATE2 factory at the same address on
 * every EVM chain that has it (it is created by a presigned keyless transaction, so nobody holds a key that
 * could put anything else there). A contract's address is then
 *   keccak256(0xff ++ factory ++ salt ++ keccak256(initCode))[12:]
 * which commits to its whole init code: bytecode, linked library addresses and constructor arguments (owner,
 * params, clocks). The same salt and the same init code give the same address on every chain; anyone who
 * deploys first with the same salt but another owner or other params lands on another address.
 */
import { AbiCoder, concat, getAddress, getCreate2Address, getCreateAddress, id, keccak256, Transaction, type Provider, type Signer } from "ethers";
import { OracleError } from "./errors.js";
import { isBytes32 } from "./hex.js";
import type { Hex } from "./types.js";

/** The proxy: `calldata = salt (32 bytes) ++ initCode`, CREATE2 with the call's value, returns the 20-byte address (reverts when creation fails). */
export const CREATE2_FACTORY = "0x4e59b44847b379578588920ca78fbf26c0b4956c";
/** The keyless account that sends the presigned transaction (recovered from its signature r = s = 0x22…22). */
export const CREATE2_FACTORY_DEPLOYER = "0x3fab184622dc19b6109349b94811493bf2a45362";
/** The presigned pre-EIP-155 transaction (nonce 0, gas price 100 gwei, gas 100,000) that creates the proxy (github.com/Arachnid/deterministic-deployment-proxy). */
export const CREATE2_FACTORY_TX =
  "0xf8a58085174876e800830186a08080b853604580600e600039806000f350fe7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe03601600081602082378035828234f58015156039578182fd5b8082525050506014600cf31ba02222222222222222222222222222222222222222222222222222222222222222a02222222222222222222222222222222222222222222222222222222222222222";
/** The proxy's runtime code: what must be at CREATE2_FACTORY before anything is deployed through it. */
export const CREATE2_FACTORY_CODE = "0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe03601600081602082378035828234f58015156039578182fd5b8082525050506014600cf3";
/** What the keyless deployer must hold for the presigned transaction: gas price × gas limit. */
export const CREATE2_FACTORY_COST = 100_000_000_000n * 100_000n;

/** The base salt `oracle deploy` uses unless given --salt. */
export const DEFAULT_DEPLOY_SALT = id("verifiable-inference-oracle/deployment/v1") as Hex;

export function deploymentMismatch(message: string, details: Record<string, unknown> = {}): OracleError {
  return new OracleError("DEPLOYMENT_MISMATCH", message, { details });
}

/** `--salt`: a 0x-prefixed 32-byte value as is, any other text hashed (keccak256 of its UTF-8). */
export function parseSalt(value: string): Hex {
  return (isBytes32(value) ? value.toLowerCase() : id(value)) as Hex;
}

/** The salt of one named contract: keccak256(abi.encode(baseSalt, name)); one base salt names a whole deployment. */
export function contractSalt(baseSalt: Hex, name: string): Hex {
  return keccak256(AbiCoder.defaultAbiCoder().encode(["bytes32", "string"], [baseSalt, name])) as Hex;
}

/** Where the proxy puts `initCode` under `salt`. */
export function create2Address(salt: Hex, initCode: string): string {
  return getCreate2Address(getAddress(CREATE2_FACTORY), salt, keccak256(initCode));
}

export type FactoryInstall = "present" | "presigned" | "setCode";

/**
 * Makes sure the proxy is at CREATE2_FACTORY: already there ("present"); else funds the keyless deployer and
 * broadcasts the presigned transaction ("presigned"); else, where the chain refuses it and answers
 * `hardhat_setCode` (a development chain), sets the proxy's runtime code there ("setCode"). Refuses
 * (DEPLOYMENT_MISMATCH) when other code sits at the address, or when the presigned transaction cannot run.
 */
export async function ensureCreate2Factory(funder: Signer): Promise<FactoryInstall> {
  const provider = funder.provider!;
  const code = await provider.getCode(CREATE2_FACTORY);
  if (code === CREATE2_FACTORY_CODE) return "present";
  if (code !== "0x") throw deploymentMismatch(`the code at the CREATE2 factory address ${CREATE2_FACTORY} is not Arachnid's deterministic deployment proxy; refusing to deploy through it`, { factory: CREATE2_FACTORY, code });
  // The constants are checked, not trusted: the transaction's signer must be the keyless deployer, and its
  // first creation the factory address.
  const tx = Transaction.from(CREATE2_FACTORY_TX);
  if (tx.from?.toLowerCase() !== CREATE2_FACTORY_DEPLOYER || getCreateAddress({ from: tx.from, nonce: 0 }).toLowerCase() !== CREATE2_FACTORY) {
    throw deploymentMismatch("the presigned factory transaction does not create the factory (corrupt constant)");
  }
  let broadcastError: unknown;
  const nonce = await provider.getTransactionCount(CREATE2_FACTORY_DEPLOYER);
  if (nonce === 0) {
    const balance = await provider.getBalance(CREATE2_FACTORY_DEPLOYER);
    if (balance < CREATE2_FACTORY_COST) await (await funder.sendTransaction({ to: CREATE2_FACTORY_DEPLOYER, value: CREATE2_FACTORY_COST - balance })).wait();
    try {
      const hash = (await (provider as Provider & { send(method: string, params: unknown[]): Promise<string> }).send("eth_sendRawTransaction", [CREATE2_FACTORY_TX])) as string;
      await receiptOf(provider, hash);
      if ((await codeAfter(provider, CREATE2_FACTORY)) === CREATE2_FACTORY_CODE) return "presigned";
    } catch (error) {
      broadcastError = error;
    }
  }
  // A chain that refuses pre-EIP-155 transactions, or whose keyless nonce 0 is spent: on a development chain
  // the proxy's code can be set directly (same code, same address, so the same addresses follow).
  try {
    await (provider as Provider & { send(method: string, params: unknown[]): Promise<unknown> }).send("hardhat_setCode", [CREATE2_FACTORY, CREATE2_FACTORY_CODE]);
    if ((await codeAfter(provider, CREATE2_FACTORY)) === CREATE2_FACTORY_CODE) return "setCode";
  } catch {
    // not a development chain
  }
  throw deploymentMismatch(
    `the CREATE2 factory ${CREATE2_FACTORY} is not on this chain and its presigned transaction cannot be sent (${nonce === 0 ? `refused: ${(broadcastError as Error | undefined)?.message ?? "no code after it"}` : `the keyless deployer ${CREATE2_FACTORY_DEPLOYER} already used nonce 0`}); a chain that only accepts EIP-155 transactions needs the proxy deployed by its operators`,
    { factory: CREATE2_FACTORY },
  );
}

/** Polls for the receipt of `hash` (every 100 ms, up to 5 minutes): a plain poll works on every provider
 * (ethers' waitForTransaction waits on block events a static JSON-RPC provider may never raise here). */
async function receiptOf(provider: Provider, hash: string): Promise<void> {
  for (const until = Date.now() + 300_000; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
    if ((await provider.getTransactionReceipt(hash)) !== null) return;
  }
  throw new Error(`the factory transaction ${hash} was not mined within 5 minutes`);
}

/** The code at `address` after a transaction that should have put some there: read again for up to 3 s while
 * empty (a JSON-RPC provider may answer a repeated getCode from its request cache). */
async function codeAfter(provider: Provider, address: string): Promise<string> {
  let code = await provider.getCode(address);
  for (const until = Date.now() + 3000; code === "0x" && Date.now() < until; code = await provider.getCode(address)) await new Promise((r) => setTimeout(r, 100));
  return code;
}

export interface Create2Placement {
  name: string;
  address: string;
  salt: Hex;
  initCodeHash: Hex;
  /** keccak256 of the runtime code at `address` (immutables included, so it can differ between chains). */
  codeHash: Hex;
  /** True when the contract was already there (this deployment, someone else's with the same init, or a front-runner's): nothing sent. */
  reused: boolean;
}

/** What an earlier manifest recorded for a contract. */
export interface Create2Expectation {
  address: string;
  codeHash: string;
}

/**
 * Deploys `initCode` through the proxy under contractSalt(baseSalt, name), or finds it already deployed
 * there. Whoever sent it, code at that address came from this exact init code (the address is its hash), so
 * reusing it is safe. `expect` (a manifest's record of `name`) must name the same address (else the init code
 * differs from that deployment's: refused before anything is sent) and, for code found there, its code hash.
 */
export async function placeCreate2(deployer: Signer, name: string, initCode: string, baseSalt: Hex, expect?: Create2Expectation): Promise<Create2Placement> {
  const provider = deployer.provider!;
  const salt = contractSalt(baseSalt, name);
  const address = create2Address(salt, initCode);
  const initCodeHash = keccak256(initCode) as Hex;
  if (expect !== undefined && expect.address.toLowerCase() !== address.toLowerCase()) {
    throw deploymentMismatch(
      `the manifest records ${name} at ${expect.address} under this salt, but this deployment's init code (deployer, admin, params, clocks or build) puts it at ${address}; deploy with another --salt or move the manifest away`,
      { name, address, expected: expect.address },
    );
  }
  const expectCodeHash = expect?.codeHash;
  let code = await provider.getCode(address);
  const reused = code !== "0x";
  if (!reused) {
    if ((await provider.getCode(CREATE2_FACTORY)) !== CREATE2_FACTORY_CODE) throw deploymentMismatch(`the CREATE2 factory is not deployed on this chain (ensureCreate2Factory first)`);
    const receipt = await (await deployer.sendTransaction({ to: CREATE2_FACTORY, data: concat([salt, initCode]) })).wait();
    if (receipt === null || receipt.status !== 1) throw deploymentMismatch(`deploying ${name} through the CREATE2 factory failed`, { name, address });
    code = await codeAfter(provider, address);
    if (code === "0x") throw deploymentMismatch(`deploying ${name} through the CREATE2 factory left no code at ${address}`, { name, address });
  }
  const codeHash = keccak256(code) as Hex;
  if (expectCodeHash !== undefined && expectCodeHash.toLowerCase() !== codeHash) {
    throw deploymentMismatch(`${name} at ${address} has code hash ${codeHash}, the manifest says ${expectCodeHash}; refusing to reuse it`, { name, address, codeHash, expected: expectCodeHash });
  }
  return { name, address, salt, initCodeHash, codeHash, reused };
}

/**
 * Paying a feature contract in an ERC-20 token (docs/FEATURES.md, "ERC-20 fees across features"): the
 * subscriptions and chain contracts pull a token prepayment from the caller, after an EIP-2612 permit for
 * them when the token has one (one transaction), else after an approval this helper sends when the
 * allowance is short. Also the gas price the oracle charges callbacks at, to price their wei.
 */
import { Contract, getAddress, type Provider, type Signer } from "ethers";
import { encodePermit, signPermit } from "../protocol/permit.js";
import { OracleSdkError } from "./errors.js";

export interface TokenPayment {
  /** The fee token. */
  address: string;
  /** Sign an EIP-2612 permit (default true); false: approve the contract first when the allowance is short. */
  permit?: boolean;
}

/** The `permit` argument for `spender` to pull `amount` of the token from the signer ("0x" after approving). */
export async function tokenPermitOrApprove(signer: Signer, t: TokenPayment, spender: string, amount: bigint, deadline: bigint): Promise<string> {
  let token: string;
  try {
    token = getAddress(t.address);
  } catch {
    throw new OracleSdkError("CONFIG_INVALID", `not a token address: ${String(t.address).slice(0, 64)}`);
  }
  if (t.permit !== false) return encodePermit(await signPermit(signer, token, spender, amount, deadline));
  const erc20 = new Contract(token, ["function allowance(address,address) view returns (uint256)", "function approve(address,uint256) returns (bool)"], signer);
  if ((await erc20.getFunction("allowance")(await signer.getAddress(), spender)) < amount) {
    const tx = await erc20.getFunction("approve")(spender, amount);
    await tx.wait();
  }
  return "0x";
}

/** The gas price callbacks are charged at now: max(basefee, the oracle's minGasPrice). */
export async function callbackGasPrice(provider: Provider, minGasPrice: bigint): Promise<bigint> {
  const block = await provider.getBlock("latest");
  const basefee = block?.baseFeePerGas ?? 0n;
  return basefee > minGasPrice ? basefee : minGasPrice;
}

/** A deadline for a permit: the latest block's time plus an hour. */
export async function permitDeadline(provider: Provider): Promise<bigint> {
  const block = await provider.getBlock("latest");
  return BigInt(block?.timestamp ?? Math.floor(Date.now() / 1000)) + 3600n;
}

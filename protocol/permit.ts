/**
 * EIP-2612 permits for ERC-20 fees (docs/FEATURES.md, "ERC-20 fees"): the requester signs one permit for
 * the oracle (or for a dApp that pays the oracle), and requestInferenceWithToken takes it abi-encoded
 * (IOracleTokenFees.Permit), so a token request is one transaction.
 */
import { AbiCoder, Contract, Signature, type Signer } from "ethers";

const PERMIT_TYPES = {
  Permit: [
    { name: "owner", type: "address" },
    { name: "spender", type: "address" },
    { name: "value", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
};

const PERMIT_ABI = [
  "function nonces(address owner) view returns (uint256)",
  "function name() view returns (string)",
  "function eip712Domain() view returns (bytes1 fields, string name, string version, uint256 chainId, address verifyingContract, bytes32 salt, uint256[] extensions)",
];

export interface SignedPermit {
  value: bigint;
  deadline: bigint;
  v: number;
  r: string;
  s: string;
}

/** Signs an EIP-2612 permit by `owner` for `spender` to spend `value` of `token` until `deadline` (unix
 * seconds). The token's domain comes from its EIP-5267 eip712Domain() (OpenZeppelin ERC20Permit), else
 * from name() with version "1". */
export async function signPermit(
  owner: Signer,
  token: string,
  spender: string,
  value: bigint,
  deadline: bigint,
): Promise<SignedPermit> {
  const provider = owner.provider;
  if (!provider) throw new Error("signPermit: the owner signer needs a provider");
  const t = new Contract(token, PERMIT_ABI, provider);
  const ownerAddress = await owner.getAddress();
  const chainId = (await provider.getNetwork()).chainId;
  let name: string;
  let version = "1";
  try {
    const d = await t.getFunction("eip712Domain")();
    name = d.name as string;
    version = d.version as string;
  } catch {
    name = (await t.getFunction("name")()) as string;
  }
  const nonce = (await t.getFunction("nonces")(ownerAddress)) as bigint;
  const sig = Signature.from(
    await owner.signTypedData({ name, version, chainId, verifyingContract: token }, PERMIT_TYPES, {
      owner: ownerAddress,
      spender,
      value,
      nonce,
      deadline,
    }),
  );
  return { value, deadline, v: sig.v, r: sig.r, s: sig.s };
}

/** abi.encode(IOracleTokenFees.Permit): the `permit` argument of requestInferenceWithToken ("0x": none). */
export function encodePermit(p: SignedPermit | undefined): string {
  if (!p) return "0x";
  return AbiCoder.defaultAbiCoder().encode(["tuple(uint256,uint256,uint8,bytes32,bytes32)"], [[p.value, p.deadline, p.v, p.r, p.s]]);
}

/**
 * demo:features `erc20` (docs/FEATURES.md, "ERC-20 fees"): deploys a permit token (OpenZeppelin
 * ERC20Permit), has the classifier's owner accept it, and has the user make a request through
 * TokenFeeDApp in one transaction with an EIP-2612 permit (the callback's gas in wei). The real relayer
 * and workers serve it; then it checks on-chain what the dApp received and each party's token balance
 * in the oracle (owner fee, relayer cut, worker cut), never assuming them.
 */
import { TestPermitToken__factory, TokenFeeDApp__factory } from "../../types/ethers-contracts/index.js";
import { BlobClient, decodeTensor, encodeTensor, Tier, querySubmitted, signPermit } from "../../protocol/index.js";
import { textLineTensor } from "../../examples/text-images.js";
import { DEFAULT_PARAMS } from "../../stack/local-stack.js";
import type { FeatureDemo } from "./types.js";

const UNIT = 10n ** 18n;
const OWNER_FEE = 2n * UNIT;
const MIN_WORKER_FEE = UNIT;
const AMOUNT = 5n * UNIT;
const CALLBACK_GAS = 200_000;

export const erc20: FeatureDemo = {
  name: "erc20",
  title: "ERC-20 fees: a permit token accepted for the classifier, a one-transaction request with an EIP-2612 permit, everyone paid in the token",
  async run(stack, say) {
    const { user, modelOwner } = stack.accounts;
    const oracleAddress = await stack.oracle.getAddress();
    const token = await new TestPermitToken__factory(user).deploy();
    const tokenAddress = await token.getAddress();
    await (await token.mint(await user.getAddress(), 1000n * UNIT)).wait();
    await (await stack.registry.connect(modelOwner).setTokenTerms(stack.modelHash, tokenAddress, { accepted: true, ownerFee: OWNER_FEE, minWorkerFee: MIN_WORKER_FEE })).wait();
    const dapp = await new TokenFeeDApp__factory(user).deploy(oracleAddress, tokenAddress, stack.modelHash, Tier.NONE, CALLBACK_GAS);
    const dappAddress = await dapp.getAddress();
    say(`  token ${tokenAddress} accepted for the classifier: owner fee 2, min worker fee 1; TokenFeeDApp ${dappAddress}`);

    const input = encodeTensor(textLineTensor("verifiable inference", { rotated: true }));
    const blob = await new BlobClient({ storeUrl: stack.relayer.url }).upload(input);
    const deadline = BigInt(await stack.networkHelpers.time.latest()) + 3600n;
    const permit = await signPermit(user, tokenAddress, dappAddress, AMOUNT, deadline);
    const basefee = (await stack.ethers.provider.getBlock("latest"))!.baseFeePerGas ?? 0n;
    const gasPrice = basefee > DEFAULT_PARAMS.minGasPrice ? basefee : DEFAULT_PARAMS.minGasPrice;
    const value = BigInt(CALLBACK_GAS) * gasPrice * 2n; // the callback's gas, in wei, with a margin over the next basefee
    const userTokensBefore = await token.balanceOf(await user.getAddress());
    const receipt = (await (await dapp.requestWithPermit(
      { inputHash: blob.hash, input: "0x", inputURI: blob.uri, deadline },
      AMOUNT,
      { deadline, v: permit.v, r: permit.r, s: permit.s },
      { value },
    )).wait())!;
    const requested = receipt.logs.map((l) => { try { return stack.oracle.interface.parseLog(l); } catch { return null; } }).find((e) => e?.name === "InferenceRequested");
    if (!requested) throw new Error("no InferenceRequested");
    const id = String(requested.args.requestId);
    say(`  request ${id.slice(0, 10)}… in one transaction (${receipt.gasUsed} gas): permit, transferFrom, approve, requestInferenceWithToken`);

    const until = Date.now() + 120_000;
    while (!(await dapp.answer(id)).received) {
      if (Date.now() > until) throw new Error(`no answer for ${id} within 120 s (state ${await stack.oracle.state(id)})`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const answer = await dapp.answer(id);
    const probs = Array.from(decodeTensor(Buffer.from(answer.output.slice(2), "hex")).data as Float32Array);
    const fulfilled = (await querySubmitted(stack.oracle.runner!.provider!, await stack.oracle.getAddress(), { requestId: id }))[0]!;
    const worker = fulfilled.worker;
    const relayer = fulfilled.relayer;
    const delivery = (await stack.oracle.runner!.provider!.getTransactionReceipt(fulfilled.transactionHash!))!.gasUsed;
    const owed = {
      owner: await stack.oracle.tokenBalanceOf(await modelOwner.getAddress(), tokenAddress),
      relayer: await stack.oracle.tokenBalanceOf(relayer, tokenAddress),
      worker: await stack.oracle.tokenBalanceOf(worker, tokenAddress),
    };
    const bps = BigInt(DEFAULT_PARAMS.relayerFeeBps);
    const relayerCut = ((AMOUNT - OWNER_FEE) * bps) / 10_000n;
    const expected = relayer.toLowerCase() === worker.toLowerCase()
      ? { owner: OWNER_FEE, relayer: AMOUNT - OWNER_FEE, worker: AMOUNT - OWNER_FEE }
      : { owner: OWNER_FEE, relayer: relayerCut, worker: AMOUNT - OWNER_FEE - relayerCut };
    const paid = owed.owner === expected.owner && owed.relayer === expected.relayer && owed.worker === expected.worker;
    const spent = userTokensBefore - (await token.balanceOf(await user.getAddress()));
    // The relayer's dashboard names the request's fee token (its request detail API).
    const detail = (await (await fetch(`${stack.relayer.url}/api/requests/${id}`)).json()) as { feeToken?: { token: string; amount: string } | null };
    const dashboardShowsToken = detail.feeToken?.token?.toLowerCase() === tokenAddress.toLowerCase() && detail.feeToken?.amount === AMOUNT.toString();
    say(`  answered: probabilities [${probs.map((p) => p.toFixed(3)).join(", ")}]; token pull balances owner ${owed.owner / UNIT}, relayer ${Number(owed.relayer) / 1e18}, worker ${Number(owed.worker) / 1e18}`);
    return {
      delivered: answer.received && probs.length === 2 && paid && spent === AMOUNT && dashboardShowsToken,
      dashboardShowsToken,
      gasPerDelivery: Number(delivery),
      requestGas: Number(receipt.gasUsed),
      token: tokenAddress,
      amount: AMOUNT.toString(),
      output: probs,
      paidInToken: { owner: owed.owner.toString(), relayer: owed.relayer.toString(), worker: owed.worker.toString() },
      callbackFeeWei: value.toString(),
    };
  },
};

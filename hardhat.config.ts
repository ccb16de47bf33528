import { createRequire } from "node:module";
import type { HardhatUserConfig } from "hardhat/config";
import hardhatEthers from "@nomicfoundation/hardhat-ethers";
import hardhatNetworkHelpers from "@nomicfoundation/hardhat-network-helpers";
import hardhatTypechain from "@nomicfoundation/hardhat-typechain";

const require = createRequire(import.meta.url);

// solc-js, so compiling never downloads a compiler: the version comes from the pinned npm package.
const solc = {
  version: require("solc/package.json").version as string,
  path: require.resolve("solc/soljson.js"),
  settings: { optimizer: { enabled: true, runs: 1000 }, viaIR: false, evmVersion: "cancun" },
};

// InferenceOracle sits close to the 24,576-byte code size limit (EIP-170), so it alone is compiled
// through the IR pipeline (viaIR) at a low `runs`, for size (the legacy pipeline makes it about 1.6k
// bytes larger at the same `runs`), and request creation, params, staking, rejections, disputes and the
// ZK proof check live in linked libraries (OracleRequests, OracleParams, OracleStaking, OracleRejections,
// DisputeBook; inlined, request creation, params and staking alone add about 3k bytes): 23.8k bytes at
// runs 20. The hot path is storage, ecrecover and events, so runs moves gas per result little (see
// bench/results/gas.json). Every other contract keeps the legacy pipeline at runs 1000. Cost: a clean
// `npm run build` takes about 32 s of CPU instead of about 17 s.
const sizeTuned = { ...solc, settings: { ...solc.settings, viaIR: true, optimizer: { enabled: true, runs: 20 } } };
// OracleRejections, DisputeBook and TokenFees (linked libraries) take many storage references at once, and FraudGame's
// leaf proofs take many calldata arguments: the IR pipeline keeps them off the stack (FraudGame at runs 20,
// for size: EIP-170).
const viaIR = { ...solc, settings: { ...solc.settings, viaIR: true, optimizer: { enabled: true, runs: 200 } } };
const viaIrSmall = { ...solc, settings: { ...solc.settings, viaIR: true, optimizer: { enabled: true, runs: 20 } } };
const profile = {
  compilers: [solc],
  overrides: {
    "contracts/InferenceOracle.sol": sizeTuned,
    "contracts/libraries/OracleRejections.sol": viaIR,
    "contracts/libraries/DisputeBook.sol": viaIR,
    // TokenFees.create passes the request, its context, the token, amount and permit at once.
    "contracts/libraries/TokenFees.sol": viaIR,
    "contracts/dispute/FraudGame.sol": viaIrSmall,
    // ETH and token jobs: 25.6k bytes with the legacy pipeline at runs 1000 (over EIP-170), 22.3k
    // through the IR pipeline at runs 200 (and `decide` ~20% cheaper per compared element; bench/gas-redundancy.ts).
    "contracts/redundancy/RedundantInference.sol": viaIR,
  },
};

const config: HardhatUserConfig = {
  plugins: [hardhatEthers, hardhatNetworkHelpers, hardhatTypechain],
  // Typed ethers bindings generated from the build output; services import them from types/.
  typechain: { outDir: "types/ethers-contracts" },
  solidity: {
    profiles: {
      default: profile,
      production: profile,
    },
  },
  paths: { sources: "./contracts", tests: "./test" },
  networks: {
    default: { type: "edr-simulated", chainType: "l1", allowUnlimitedContractSize: false },
  },
};

export default config;

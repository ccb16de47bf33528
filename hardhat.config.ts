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

// InferenceOracle sits close to the 24,576-byte code size limit (EIP-170): it is compiled for size
// (runs 200) while every other contract keeps runs 1000. Measured: 1000 runs -> 25.4k bytes, 200 -> see
// docs/PROTOCOL.md "Result batches" (gas per result barely moves: the hot path is storage and ecrecover).
const sizeTuned = { ...solc, settings: { ...solc.settings, optimizer: { enabled: true, runs: 200 } } };
const profile = { compilers: [solc], overrides: { "contracts/InferenceOracle.sol": sizeTuned } };

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

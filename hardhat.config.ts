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

const config: HardhatUserConfig = {
  plugins: [hardhatEthers, hardhatNetworkHelpers, hardhatTypechain],
  // Typed ethers bindings generated from the build output; services import them from types/.
  typechain: { outDir: "types/ethers-contracts" },
  solidity: {
    profiles: {
      default: solc,
      production: solc,
    },
  },
  paths: { sources: "./contracts", tests: "./test" },
  networks: {
    default: { type: "edr-simulated", chainType: "l1", allowUnlimitedContractSize: false },
  },
};

export default config;

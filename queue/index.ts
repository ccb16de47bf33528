export * from "./types.js";
export { InProcessQueue } from "./memory.js";

import { prepareZkModel } from "../circuits/zk.js";
const t = Date.now();
const a = await prepareZkModel("/work/wt/ux/models/mnist-mlp.onnx", { progress: (m) => console.log(((Date.now()-t)/1000).toFixed(1), m) });
console.log("done", (Date.now()-t)/1000, a.modelHash);

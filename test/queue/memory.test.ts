import { InProcessQueue } from "../../queue/index.js";
import { queueConformance } from "./conformance.js";

queueConformance("in-process", async () => new InProcessQueue());

export * from "./types.js";
export { InProcessQueue } from "./memory.js";
export { RabbitMqQueue, readDeadLetter, redactAmqpUrl, type RabbitMqQueueOptions } from "./rabbitmq.js";
export { parseContent, serializeContent } from "./rabbitmq.js";

// ESM entry of laptime/fastify: wraps the CommonJS build so `import` and `require` share one module
// instance (and with it the annotations and the root package's default store).
import mod from './src/fastify.js';

export const { fastify, annotate, UNMATCHED } = mod;
export default mod;

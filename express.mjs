// ESM entry of laptime/express: wraps the CommonJS build so `import` and `require` share one module
// instance (and with it the annotations and the root package's default store).
import express from './src/express.js';

export const { express: expressMiddleware, expressErrors, handler, annotate, expressRoute, UNMATCHED } = express;
export { expressMiddleware as express };
export default express;

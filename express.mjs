// ESM entry of laptime/express: wraps the CommonJS build so `import` and `require` share one module
// instance (and with it the annotations and the root package's default store).
import mod from './src/express.js';

export const { express, expressErrors, handler, annotate, expressRoute, UNMATCHED } = mod;
export default mod;

// ESM entry of laptime/nest: wraps the CommonJS build so `import` and `require` share one module
// instance (and with it the annotations and the root package's default store).
import mod from './src/nest.js';

export const { LaptimeInterceptor, annotate, UNMATCHED } = mod;
export default mod;

// ESM entry of laptime/otel: wraps the CommonJS build so `import` and `require` share one module
// instance (and with it the root package's default store).
import otel from './src/otel.js';

export const { LaptimeSpanProcessor, DEFAULT_SPAN_ATTRIBUTES, SPAN_KIND_FIELD, hrTimeToNs } = otel;
export default otel;

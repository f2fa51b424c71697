// ESM entry: the CommonJS build (index.js) is the one implementation, so `import` and `require`
// share a single module instance (one default store, one set of exit hooks).
import laptime from './index.js';

export const { capture, defaultStore, setDefaultStore, log, logger, mark, open, Store, Query, FilterSyntaxError, openReader, Reader, openFleet, Fleet, FleetError, verifyStore, maintainStore, exportParquet, readPostMortem, readSnapshot, ERROR_CODES, isLaptimeError, metricsText, metricsHandler } = laptime;
export default laptime;

// Preloaded into NNI's manager (NODE_OPTIONS=--require <this file>) by nni-nas, beside loopback.js. When an assessor
// (Medianstop, Curvefitting) judges a trial poor, NNI's manager cancels it with isEarlyStopped = true, and NNI 3.0's
// v1 adapter of its training services (training_service/v3/compat.js, V3asV1.cancelTrialJob) first awaits the trial's
// stop, then sets the flag. A trial that ends within that wait (an nni-nas trial ends within a second of NNI's
// SIGINT) has already been recorded as USER_CANCELED, as if a person had stopped it: the portal never shows
// EARLY_STOPPED and the tuner cannot tell the assessor's stop from a cancel. Here the flag is set before the wait;
// nothing else changes (a cancel without the flag stays USER_CANCELED).
'use strict';
const Module = require('module');

const load = Module._load;
Module._load = function (request, parent, isMain) {
  const exported = load.apply(this, arguments);
  if (exported && typeof exported.V3asV1 === 'function') {
    patch(exported.V3asV1.prototype);
  }
  return exported;
};

function patch(proto) {
  if (proto.__nniNasEarlyStop) return;
  proto.__nniNasEarlyStop = true;
  const cancel = proto.cancelTrialJob;
  proto.cancelTrialJob = function (trialJobId, isEarlyStopped) {
    const trial = this.trialJobs && this.trialJobs[trialJobId];
    if (trial && isEarlyStopped) {
      trial.isEarlyStopped = true;  // read by onTrialEnd, which may run before the stop's await returns
    }
    return cancel.call(this, trialJobId, isEarlyStopped);
  };
}

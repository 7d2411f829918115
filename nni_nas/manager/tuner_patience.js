// Preloaded into NNI's manager (NODE_OPTIONS=--require <this file>) by nni-nas, beside loopback.js. NNI 3.0 gives
// its tuner process 10 s to connect, hard-coded (core/tuner_command_channel.js), and fails the whole experiment
// otherwise. On a busy machine `import nni` alone takes longer (measured: 10.8 s of wall time at a load of 9 on two
// cores), so that one timer gets NNI_NAS_TUNER_TIMEOUT_S seconds (default 120) instead. Every other timer is as
// NNI set it.
'use strict';
const seconds = Number(process.env.NNI_NAS_TUNER_TIMEOUT_S || 120);
const original = global.setTimeout;

global.setTimeout = function (callback, delay, ...args) {
  if (delay === 10000 && typeof callback === 'function'
      && String(callback).includes('Tuner did not connect') && seconds > 10) {
    delay = seconds * 1000;
  }
  return original.call(this, callback, delay, ...args);
};
// util.promisify(setTimeout) and Object.keys-style lookups must keep working as on the original
Object.defineProperties(global.setTimeout, Object.getOwnPropertyDescriptors(original));

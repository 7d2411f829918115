// Preloaded into NNI's manager (NODE_OPTIONS=--require <this file>) by nni-nas, beside loopback.js and
// tuner_patience.js. It changes what NNI 3.0's remote training service (training_service/remote_v3/remote.js) does
// when it loses a machine (its trial keeper's channel is lost and the keeper cannot be reached over SSH either):
//
// - NNI ends the trials that ran there with exit code null, which its v1 adapter (training_service/v3/compat.js)
//   records as USER_CANCELED, as if someone had stopped them, with no reason anywhere. Here they end FAILED, and
//   each gets an error.txt in its local mirror (~/nni-experiments/<id>/environments/remote-worker<N>/trials/<trial>/,
//   where `nni-nas top` and `report` look) saying which machine was lost and why; the manager's log says it too.
// - NNI then tries to start a new worker on that machine; when that fails, NNI leaves the half-started worker in its
//   list, and a later environment update offers it to the scheduler again, which can hand new trials to a machine
//   that is gone. Here a worker that failed to start is taken out of the lists, so the search goes on on the
//   machines that remain.
// - NNI's SSH client (ssh2) emits 'error' when the connection to a machine breaks (a reset), and NNI listens for
//   it only while connecting: an unheard 'error' ends the whole manager. Here it is logged instead.
// Nothing else changes; without platform: remote this file patches nothing that runs.
'use strict';
const Module = require('module');
const fs = require('fs');
const path = require('path');

const load = Module._load;
Module._load = function (request, parent, isMain) {
  const exported = load.apply(this, arguments);
  if (exported && typeof exported.RemoteTrainingServiceV3 === 'function') {
    patch(exported.RemoteTrainingServiceV3.prototype);
  }
  if (exported && typeof exported.Ssh === 'function' && String(request).endsWith('ssh')) {
    patchSsh(exported.Ssh.prototype);
  }
  return exported;
};

function log(message) {
  try {
    require.main.require('common/log').getLogger('nni-nas').error(message);
  } catch (_) {
    console.error(`nni-nas: ${message}`);
  }
}

function machineLabel(service, worker) {
  const c = worker.config || {};
  const n = (service.config.machineList || []).indexOf(c) + 1;
  return `machine ${n || '?'} of the machineList (${c.user}@${c.host}:${c.port || 22})`;
}

function recordReason(worker, trialId, reason) {
  const root = global.nni && global.nni.paths && global.nni.paths.experimentRoot;
  if (!root) return;
  try {
    const dir = path.join(root, 'environments', worker.envId, 'trials', trialId);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'error.txt'), `${reason}\n`);
  } catch (err) {
    log(`cannot record why trial ${trialId} failed: ${err.message}`);
  }
}

function patch(proto) {
  if (proto.__nniNasMachineLost) return;
  proto.__nniNasMachineLost = true;

  const stopWorker = proto.stopWorker;
  proto.stopWorker = function (oldWorker, emitEnvUpdate) {
    const lost = [];
    this.workersByTrial.forEach((worker, trialId) => { if (worker === oldWorker) lost.push(trialId); });
    const why = oldWorker.__nniNasLostReason || 'its trial keeper stopped answering';
    const service = this;
    const emitter = this.emitter;
    const emit = emitter.emit;
    emitter.emit = function (event, trialId, timestamp, exitCode, ...rest) {
      if (event === 'trial_stop' && exitCode === null && lost.includes(trialId)) {
        const reason = `FAILED: ${machineLabel(service, oldWorker)} was lost while the trial ran there (${why}); `
          + 'its files stay on that machine';
        log(`trial ${trialId} ${reason}`);
        recordReason(oldWorker, trialId, reason);
        exitCode = -1;  // any non-null code: compat.js records FAILED instead of USER_CANCELED
      }
      return emit.call(this, event, trialId, timestamp, exitCode, ...rest);
    };
    try {
      return stopWorker.call(this, oldWorker, emitEnvUpdate);
    } finally {
      emitter.emit = emit;
    }
  };

  const restartWorker = proto.restartWorker;
  proto.restartWorker = async function (oldWorker) {
    oldWorker.__nniNasLostReason = oldWorker.__nniNasLostReason || 'its channel failed and SSH did not reach it';
    const before = new Set(this.workers);
    await restartWorker.call(this, oldWorker);
    // a replacement that did not come up stays in NNI's lists: take it out
    for (const worker of this.workers.filter((w) => !before.has(w))) {
      if (!worker.channel) {
        log(`${machineLabel(this, worker)} could not be started again; trials go to the other machines`);
        this.workers = this.workers.filter((w) => w !== worker);
        this.workersByChannel.delete(worker.channelId);
        this.workersByEnv.delete(worker.envId);
        this.emitEnvUpdate();
      }
    }
  };
}

function patchSsh(proto) {
  if (proto.__nniNasMachineLost) return;
  proto.__nniNasMachineLost = true;
  const connect = proto.connect;
  proto.connect = async function (...args) {
    await connect.apply(this, args);
    const client = this.client;
    const c = this.config || {};
    if (client && typeof client.on === 'function') {
      client.on('error', (err) => log(`SSH connection to ${c.user}@${c.host}:${c.port || 22} failed: ${err.message}`));
    }
  };
}

// Preloaded into NNI's manager (NODE_OPTIONS=--require <this file>) by nni-nas, beside machine_lost.js. It makes a
// remote trial run the Python that the machine's `pythonPath` names, whatever the account's shell does.
//
// NNI 3.0's remote service (training_service/remote_v3/worker.js) starts the trial keeper with `pythonPath` put
// first on its PATH, and the keeper (common/trial_keeper/process.js) runs each trial command with `/bin/bash -c`.
// That bash is started under sshd (SSH_CLIENT is set) at shell level 1, so it reads the account's ~/.bashrc before
// the command (bash(1), INVOCATION: "run by the remote shell daemon"); a .bashrc that runs `pyenv init` or
// `conda init`, or prepends any other Python to PATH, then wins, and `python -m nni_nas.trial` is that Python:
// every trial fails within a second with `No module named 'nni_nas'`. Here the command NNI hands to the keeper
// starts by putting `pythonPath` first on PATH again, after the .bashrc has run, the same way NNI's own SSH
// commands do (`PATH="<pythonPath>:..." <command>`, remote_v3/ssh.js).
// Nothing else changes; a machine without pythonPath, or a Windows one (a path with `\`), keeps NNI's command;
// without platform: remote this file patches nothing that runs.
'use strict';
const Module = require('module');
const path = require('path');

const load = Module._load;
Module._load = function (request, parent, isMain) {
  const exported = load.apply(this, arguments);
  if (exported && typeof exported.RemoteTrainingServiceV3 === 'function') {
    patch(exported.RemoteTrainingServiceV3.prototype);
  }
  return exported;
};

function shellQuote(text) {
  return `'${String(text).replace(/'/g, `'\\''`)}'`;
}

// The folder to put first on PATH for a machine: pythonPath itself (NNI's documented meaning, the Python's bin
// folder), or its folder when NNI found pythonPath to be the interpreter itself (worker.python is then that path).
function pythonBin(worker) {
  const configured = worker && worker.config && worker.config.pythonPath;
  if (!configured || String(configured).includes('\\')) return null;
  return worker.python === configured ? path.posix.dirname(configured) : String(configured);
}

function withPythonPath(worker, trialCommand) {
  const bin = pythonBin(worker);
  return bin ? `export PATH=${shellQuote(bin)}:"$PATH"; ${trialCommand}` : trialCommand;
}

function patch(proto) {
  if (proto.__nniNasRemotePython) return;
  proto.__nniNasRemotePython = true;
  const createTrial = proto.createTrial;
  proto.createTrial = function (envId, trialCommand, ...rest) {
    return createTrial.call(this, envId, withPythonPath(this.workersByEnv.get(envId), trialCommand), ...rest);
  };
}

module.exports = { withPythonPath };

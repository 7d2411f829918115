// Preloaded into NNI's manager (NODE_OPTIONS=--require <this file>) by nni-nas: a server that does not name the
// host it listens on gets 127.0.0.1, so the web portal and its REST API (which has no authentication and can
// delete trials or hand out a trial's files) are reachable from this machine only. NNI 3.0 has no host option.
'use strict';
const net = require('net');
const HOST = process.env.NNI_NAS_LISTEN_HOST || '127.0.0.1';
const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (typeof args[1] !== 'string') {  // listen(port[, backlog][, callback]): no host given
      args.splice(1, 0, HOST);
    }
  } else if (first && typeof first === 'object' && !(first instanceof net.Server) && first.path === undefined
             && first.fd === undefined && first.handle === undefined && first.host === undefined) {
    args[0] = Object.assign({}, first, { host: HOST });  // listen({port}) without a host
  }
  return listen.apply(this, args);
};

// The portal's TensorBoard button makes the manager spawn `tensorboard --bind_all --logdir_spec=...` (NNI 3.0,
// extensions/nniTensorboardManager.js), which listens on every interface; it gets --host HOST instead.
const childProcess = require('child_process');
const spawn = childProcess.spawn;
childProcess.spawn = function (command, args, ...rest) {
  if (command === 'tensorboard' && Array.isArray(args)) {
    args = args.map((arg) => (typeof arg === 'string' ? arg.replace(/^--bind_all(\s|$)/, `--host=${HOST}$1`) : arg));
  }
  return spawn.call(this, command, args, ...rest);
};

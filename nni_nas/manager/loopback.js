// Preloaded into NNI's manager (NODE_OPTIONS=--require <this file>) by nni-nas: a server that does not name the
// host it listens on gets 127.0.0.1, so the web portal and its REST API (which has no authentication and can
// delete trials or hand out a trial's files) are reachable from this machine only. NNI 3.0 has no host option.
// NNI_NAS_ALSO_LISTEN=<address> (set by nni-nas for `platform: remote`, with the config's nniManagerIp) also
// accepts connections on that one address, forwarded to the loopback server: remote trial keepers connect back
// there, while nnictl keeps talking to localhost.
'use strict';
const net = require('net');
const HOST = process.env.NNI_NAS_LISTEN_HOST || '127.0.0.1';
const ALSO = process.env.NNI_NAS_ALSO_LISTEN || '';
const listen = net.Server.prototype.listen;

function forwardFrom(address, port) {
  const forwarder = net.createServer((client) => {
    const upstream = net.connect(port, HOST);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  forwarder.on('error', (err) => {
    console.error(`nni-nas: cannot also listen on ${address}:${port} (nniManagerIp): ${err.message}`);
    process.exit(1);
  });
  listen.call(forwarder, port, address);
}

net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (typeof args[1] !== 'string') {  // listen(port[, backlog][, callback]): no host given
      args.splice(1, 0, HOST);
      if (ALSO && ALSO !== HOST && Number(first) > 0) {
        this.once('listening', () => forwardFrom(ALSO, Number(first)));
      }
    }
  } else if (first && typeof first === 'object' && !(first instanceof net.Server) && first.path === undefined
             && first.fd === undefined && first.handle === undefined && first.host === undefined) {
    args[0] = Object.assign({}, first, { host: HOST });  // listen({port}) without a host
    if (ALSO && ALSO !== HOST && Number(first.port) > 0) {
      this.once('listening', () => forwardFrom(ALSO, Number(first.port)));
    }
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

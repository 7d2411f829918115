// Preloaded into NNI's manager (NODE_OPTIONS=--require <this file>) by nni-nas: the web portal shows its icons
// without internet access.
//
// NNI 3.0's portal (Fluent UI React) calls initializeIcons() with no base URL, so its 19 icon font files come from
// https://res.cdn.office.net/.../assets/icons/ unless window.FabricConfig.iconBaseUrl names another place before
// the bundle runs. Offline, every icon was an empty box. scripts/install.sh fetches those files from the npm
// registry (@fluentui/font-icons-mdl2, the version the bundle registers; nni_nas/manager/portal_icons.py) into
// <venv>/share/nni-nas/portal-icons. This preload
//   - answers GET <anything>/nni-nas-icons/<file>.woff with that file (only the names in that folder), and
//   - adds <script>window.FabricConfig = {..., iconBaseUrl: "./nni-nas-icons/"}</script> at the top of <head> of
//     every HTML page the manager sends (index.html, whatever route or URL prefix asked for it).
// The relative "./" resolves like the bundle's own "./static/..." paths, so a urlPrefix needs nothing more.
// Only iconBaseUrl is set: the text keeps Fluent's font stack (Segoe UI from the CDN when it is reachable, the
// system's sans-serif otherwise). Nothing installed is edited, and the preload opens no socket of its own: the
// files go out through the manager's server, which nni_nas/manager/loopback.js keeps on 127.0.0.1.
// When the folder is not complete (the fetch failed at install), the preload does nothing: the portal asks the CDN
// as plain NNI does. NNI_NAS_PORTAL_ICONS=<folder> names the folder (nni-nas sets it); without it, the folder is
// found from the manager's own (nni_node) folder, which nnictl makes the working directory.
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');

const BASE = 'nni-nas-icons';
const FONT_PATH = new RegExp(`/${BASE}/([\\w.-]+\\.woff2?)$`);
const CONFIG = `<script>window.FabricConfig=Object.assign({},window.FabricConfig,{iconBaseUrl:"./${BASE}/"})</script>`;

function iconFolder() {
  if (process.env.NNI_NAS_PORTAL_ICONS) {
    return process.env.NNI_NAS_PORTAL_ICONS;
  }
  // <prefix>/lib/python3.X/site-packages/nni_node -> <prefix>/share/nni-nas/portal-icons
  return path.resolve(process.cwd(), '..', '..', '..', '..', 'share', 'nni-nas', 'portal-icons');
}

function availableFonts(folder) {
  try {
    if (!fs.existsSync(path.join(folder, '.complete'))) {
      return new Set();
    }
    return new Set(fs.readdirSync(folder).filter((name) => /\.woff2?$/.test(name)));
  } catch (err) {
    return new Set();
  }
}

const FOLDER = iconFolder();
const FONTS = availableFonts(FOLDER);

function serveFont(name, req, res) {
  if (!FONTS.has(name)) {  // only the files of the folder, by their plain names: no path reaches elsewhere
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('Not Found');
    return;
  }
  fs.readFile(path.join(FOLDER, name), (err, data) => {
    if (err) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('Not Found');
      return;
    }
    // the names carry a content hash: a browser may keep them
    res.writeHead(200, { 'Content-Type': 'font/woff', 'Content-Length': data.length,
                         'Cache-Control': 'public, max-age=31536000, immutable' });
    res.end(req.method === 'HEAD' ? undefined : data);
  });
}

// Hold back the body of an HTML response and send it with the FabricConfig script at the top of its <head>.
// Express (its send module) sets the headers, then pipes the file through write() and end(); a response whose
// headers are already out (writeHead), or that is not a plain 200 text/html one, passes through untouched.
function injectIntoHtml(res) {
  const write = res.write;
  const end = res.end;
  const chunks = [];
  let holding = null;  // null: not decided yet
  const decide = () => {
    if (holding === null) {
      holding = !res.headersSent && res.statusCode === 200 && !res.getHeader('content-encoding')
        && /^text\/html/i.test(String(res.getHeader('content-type') || ''));
    }
    return holding;
  };
  const keep = (chunk, encoding) => {
    if (chunk !== undefined && chunk !== null && typeof chunk !== 'function') {
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8'));
    }
  };
  res.write = function (chunk, encoding, callback) {
    if (!decide()) {
      return write.apply(this, arguments);
    }
    keep(chunk, encoding);
    const done = typeof encoding === 'function' ? encoding : callback;
    if (typeof done === 'function') {
      process.nextTick(done);
    }
    return true;
  };
  res.end = function (chunk, encoding, callback) {
    if (!decide()) {
      return end.apply(this, arguments);
    }
    keep(chunk, encoding);
    const done = [chunk, encoding, callback].find((arg) => typeof arg === 'function');
    const html = Buffer.concat(chunks).toString('utf8');
    const head = /<head[^>]*>/i.exec(html);
    const body = head ? html.slice(0, head.index + head[0].length) + CONFIG + html.slice(head.index + head[0].length)
      : html;
    if (head) {
      // the page differs from the file: no validators of the file, and the browser asks again each time
      res.removeHeader('ETag');
      res.removeHeader('Last-Modified');
      res.setHeader('Cache-Control', 'no-cache');
    }
    res.setHeader('Content-Length', Buffer.byteLength(body));
    return end.call(this, body, 'utf8', done);
  };
}

if (FONTS.size > 0) {
  const emit = http.Server.prototype.emit;
  http.Server.prototype.emit = function (event, req, res) {
    if (event === 'request' && (req.method === 'GET' || req.method === 'HEAD')) {
      const match = FONT_PATH.exec((req.url || '').split('?')[0]);
      if (match) {
        serveFont(match[1], req, res);
        return true;
      }
      if (req.method === 'GET') {
        if (/text\/html/i.test(req.headers.accept || '')) {
          // a page load: a copy the browser cached before this preload ran would come back as 304, without
          // the script; the page is 6 kB, so it is always sent whole
          delete req.headers['if-none-match'];
          delete req.headers['if-modified-since'];
        }
        injectIntoHtml(res);
      }
    }
    return emit.apply(this, arguments);
  };
}

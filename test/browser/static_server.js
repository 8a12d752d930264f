/**
 * A static HTTP server on 127.0.0.1 for the browser test: each URL prefix
 * maps to one file or one directory, nothing outside them is served, and
 * any other path is a 404.
 */
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');

const TYPES = {'.html': 'text/html', '.js': 'text/javascript', '.json': 'application/json', '.bin': 'application/octet-stream'};

/** The file a request path names under `routes` ({'/x.js': file, '/dir/': directory}), or null. */
function resolve(routes, urlPath) {
  for (const [prefix, target] of Object.entries(routes)) {
    if (!prefix.endsWith('/')) {
      if (urlPath === prefix) return target;
      continue;
    }
    if (!urlPath.startsWith(prefix)) continue;
    const file = path.resolve(target, '.' + path.posix.normalize('/' + urlPath.slice(prefix.length)));
    if (file.startsWith(path.resolve(target) + path.sep)) return file;
  }
  return null;
}

/** Starts the server on a free port; resolves to {url, close()}. */
function startServer(routes) {
  const server = http.createServer((req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url, 'http://localhost').pathname);
    const file = req.method === 'GET' ? resolve(routes, urlPath) : null;
    if (!file || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, {'content-type': 'text/plain'});
      res.end(`not found: ${urlPath}`);
      return;
    }
    res.writeHead(200, {'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store'});
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolvePromise({
      url: `http://127.0.0.1:${server.address().port}`,
      close: () => new Promise(done => server.close(() => done())),
    }));
  });
}

module.exports = {startServer};

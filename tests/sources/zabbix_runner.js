// Runs the dingrelay Zabbix media-type script as Zabbix would: `value` is the parameters as a JSON string, the
// script's body is a function's, and HTTP goes through Zabbix's HttpRequest (or, with API=CurlHttpRequest, the
// CurlHttpRequest of Zabbix 5.0), done here for real by a child node process. Prints {ok, result|error, logs}.
'use strict';
const fs = require('fs');
const { execFileSync } = require('child_process');

const script = fs.readFileSync(process.argv[2], 'utf8');
const value = fs.readFileSync(0, 'utf8');
const logs = [];
const SEND = `
  const [url, headers] = JSON.parse(process.argv[1]);
  const chunks = [];
  process.stdin.on('data', (c) => chunks.push(c)).on('end', async () => {
    const h = {};
    for (const line of headers) { const i = line.indexOf(':'); h[line.slice(0, i).trim()] = line.slice(i + 1).trim(); }
    const r = await fetch(url, { method: 'POST', headers: h, body: Buffer.concat(chunks) });
    process.stdout.write(r.status + '\\n' + await r.text());
  });`;

function send(url, headers, body) {
  const out = execFileSync(process.execPath, ['-e', SEND, JSON.stringify([url, headers])], { input: body }).toString();
  const i = out.indexOf('\n');
  return [parseInt(out.slice(0, i), 10), out.slice(i + 1)];
}

function Http() { this.headers = []; this.code = 0; }
Http.prototype.post = function (url, body) { const [code, text] = send(url, this.headers, body); this.code = code; return text; };

if (process.env.API === 'CurlHttpRequest') {
  global.Zabbix = { Log: (level, message) => logs.push(message) };
  global.CurlHttpRequest = function () { Http.call(this); };
  CurlHttpRequest.prototype.AddHeader = function (h) { this.headers.push(h); };
  CurlHttpRequest.prototype.SetProxy = function () {};
  CurlHttpRequest.prototype.Post = Http.prototype.post;
  CurlHttpRequest.prototype.Status = function () { return this.code; };
} else {
  global.Zabbix = { log: (level, message) => logs.push(message) };
  global.HttpRequest = function () { Http.call(this); };
  HttpRequest.prototype.addHeader = function (h) { this.headers.push(h); };
  HttpRequest.prototype.setProxy = function () {};
  HttpRequest.prototype.post = Http.prototype.post;
  HttpRequest.prototype.getStatus = function () { return this.code; };
}

try {
  const result = new Function('value', script)(value);
  console.log(JSON.stringify({ ok: true, result, logs }));
} catch (error) {
  console.log(JSON.stringify({ ok: false, error: String(error), logs }));
}

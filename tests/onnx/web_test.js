// Drives name_language's web page in headless Chromium: serves it on 127.0.0.1 (serve.js), types
// names into it key by key through the DevTools protocol (over a pipe: no port, no network), and
// prints what the page shows.
//
//   node web_test.js --page DIR --model DIR --names Nguyen,Schmidt,Rodrigo [--screenshot FILE]
//
// Output: "shown <name> <label> <percent>" per row of each name's card, in order, then "done".
// Chromium resolves no host but 127.0.0.1 (--host-resolver-rules), sends anything else to a proxy
// that does not exist, and its background services are off, so nothing reaches another address.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

function args(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i += 2) o[argv[i].replace(/^--/, '')] = argv[i + 1];
  for (const k of ['page', 'model', 'names'])
    if (!o[k]) throw new Error(`--${k} is required`);
  return o;
}

// The DevTools protocol over --remote-debugging-pipe: JSON messages ended by NUL, written to the
// browser's fd 3 and read from its fd 4.
class Browser {
  constructor(executable, profile) {
    this.proc = spawn(executable, [
      '--headless=new', '--no-sandbox', '--disable-gpu', '--remote-debugging-pipe',
      `--user-data-dir=${profile}`, '--no-first-run', '--no-default-browser-check',
      '--disable-extensions', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--disable-default-apps', '--disable-domain-reliability',
      '--metrics-recording-only', '--safebrowsing-disable-auto-update',
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
      // A proxy that is not there: a request to an address given as digits fails too, while
      // loopback, which Chromium never sends through a proxy, reaches serve.js.
      '--proxy-server=http://127.0.0.1:9',
      '--window-size=900,700', 'about:blank',
    ], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], detached: true });  // its own group
    this.stderr = '';
    this.proc.stderr.on('data', (d) => { this.stderr += d; });
    this.next = 1;
    this.pending = new Map();
    this.buffer = '';
    this.proc.stdio[4].on('data', (chunk) => {
      this.buffer += chunk.toString('utf8');
      let end;
      while ((end = this.buffer.indexOf('\0')) >= 0) {
        const message = JSON.parse(this.buffer.slice(0, end));
        this.buffer = this.buffer.slice(end + 1);
        const waiter = this.pending.get(message.id);
        if (!waiter) continue;
        this.pending.delete(message.id);
        if (message.error) waiter.reject(new Error(`${waiter.method}: ${message.error.message}`));
        else waiter.resolve(message.result);
      }
    });
  }
  send(method, params = {}, sessionId = undefined) {
    const id = this.next++;
    const message = { id, method, params };
    if (sessionId) message.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.proc.stdio[3].write(JSON.stringify(message) + '\0');
    });
  }
  // Ends the browser (Browser.close, then SIGKILL to its process group if it lingers) and waits
  // for it, so that its profile folder can be removed.
  async close() {
    const exited = () => this.proc.exitCode !== null || this.proc.signalCode !== null;
    if (exited()) return;
    const ended = new Promise((resolve) => this.proc.once('exit', resolve));
    this.send('Browser.close').catch(() => {});
    const timer = setTimeout(() => {
      try { process.kill(-this.proc.pid, 'SIGKILL'); } catch (e) { /* already gone */ }
    }, 5000);
    await ended;
    clearTimeout(timer);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const o = args(process.argv.slice(2));
  const { serve } = require(path.resolve(o.page, 'serve.js'));
  const server = await serve({
    model: path.resolve(o.model),
    ort: o.ort ?? path.resolve(__dirname, 'node_modules/onnxruntime-web/dist'),
    port: 0,
  });
  const url = `http://127.0.0.1:${server.address().port}/`;
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'tapegrad_chromium_'));
  const browser = new Browser(o.chromium ?? 'chromium', profile);
  const timeout = setTimeout(() => {
    console.log(`error timed out; chromium stderr: ${browser.stderr.slice(-2000)}`);
    try { process.kill(-browser.proc.pid, 'SIGKILL'); } catch (e) { /* already gone */ }
    process.exit(1);
  }, 90000);
  try {
    const { targetId } = await browser.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await browser.send('Target.attachToTarget', { targetId, flatten: true });
    const page = (method, params) => browser.send(method, params, sessionId);
    const evaluate = async (expression) => {
      const r = await page('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
      if (r.exceptionDetails) throw new Error(`page: ${r.exceptionDetails.text}`);
      return r.result.value;
    };
    await page('Page.enable');
    await page('Runtime.enable');
    await page('Page.navigate', { url });
    for (let i = 0; ; ++i) {
      const s = await evaluate('JSON.stringify({ready: document.body && document.body.dataset.ready, error: document.body && document.body.dataset.error})');
      const { ready, error } = JSON.parse(s);
      if (error) throw new Error(`the page failed: ${error}`);
      if (ready) break;
      await sleep(100);
    }
    const names = o.names.split(',');
    // Typed as a person would: focus the field, then one key event per character, ", " between.
    await evaluate("document.getElementById('names').focus()");
    const text = names.join(', ');
    for (const ch of text) {
      await page('Input.dispatchKeyEvent', { type: 'keyDown', text: ch, key: ch, unmodifiedText: ch });
      await page('Input.dispatchKeyEvent', { type: 'keyUp', key: ch });
    }
    const want = names.join(',');
    for (;;) {
      const shown = await evaluate('document.body.dataset.shown || ""');
      if (shown === want) break;
      const error = await evaluate('document.body.dataset.error || ""');
      if (error) throw new Error(`the page failed: ${error}`);
      await sleep(50);
    }
    const rows = await evaluate(`[...document.querySelectorAll('.result')].map((card) =>
        [...card.querySelectorAll('.row')].map((row) =>
            [card.dataset.name, row.dataset.label, row.dataset.percent].join('\\t'))).flat()`);
    for (const row of rows) console.log(`shown\t${row}`);
    if (o.screenshot) {
      const { data } = await page('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true });
      fs.writeFileSync(o.screenshot, Buffer.from(data, 'base64'));
    }
    console.log('done');
  } finally {
    clearTimeout(timeout);
    await browser.close();
    server.close();
    // Chromium's helper processes may still be closing files: retry, and never fail on it.
    try {
      fs.rmSync(profile, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
    } catch (e) {
      console.error(`warning: could not remove ${profile}: ${e.message}`);
    }
  }
}

main().catch((e) => {
  console.log(`error ${e.message}`);
  process.exit(1);
});

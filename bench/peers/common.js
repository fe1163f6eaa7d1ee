'use strict';
// What every peer shares, so that the peers differ only in how they queue:
// the event payloads, the SMS body rendered from one template, the POST to the
// sink over one keep-alive agent, the durable delivery-log INSERT, the phase
// handshake with bench/peers/peers.py, and the one JSON result line.

const http = require('node:http');
const readline = require('node:readline');
const { Pool } = require('pg');

function envInt(name, dflt) {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) {
    fail(`${name} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return n;
}

function envStr(name, dflt) {
  const v = process.env[name];
  if (v === undefined || v === '') {
    if (dflt === undefined) fail(`${name} is not set`);
    return dflt;
  }
  return v;
}

function fail(msg) {
  process.stderr.write(`peer: ${msg}\n`);
  process.exit(2);
}

const config = () => ({
  sinkUrl: new URL(envStr('SINK_URL')),
  n: envInt('N', 100000),
  inflight: envInt('INFLIGHT', 24),
});

// --- events -----------------------------------------------------------------

const NAMES = ['Anna', 'Erik', 'Maja', 'Lars', 'Sara', 'Johan', 'Elin', 'Oskar'];
const CARRIERS = ['PostNord', 'DHL', 'Budbee', 'Instabox', 'Schenker'];

// The order event number i (0-based) as a queue payload.
function makeEvent(i) {
  return {
    event_id: `ev-${i}`,
    name: NAMES[i % NAMES.length],
    phone: `+4670${String(1000000 + (i % 9000000)).padStart(7, '0')}`,
    order: 1000 + i,
    carrier: CARRIERS[i % CARRIERS.length],
    tracking: `SE${(i * 7919 + 104729).toString(36).toUpperCase().padStart(10, '0')}`,
  };
}

const TEMPLATE =
  'Hej {{name}}! Din order {{order}} har skickats med {{carrier}} och kommer i morgon ' +
  'mellan 12 och 14. Spåra: https://tracking.example/se/{{tracking}}';

function render(ev) {
  return TEMPLATE.replace(/\{\{(\w+)\}\}/g, (_, k) => String(ev[k]));
}

// --- the provider call ---------------------------------------------------------

function makeSender(sinkUrl, inflight) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: inflight });
  // Returns {status, answer}; rejects on a transport error.
  return function send(ev) {
    const body = Buffer.from(
      JSON.stringify({ from: 'Exempel', to: ev.phone, message: render(ev) }),
    );
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          agent,
          host: sinkUrl.hostname,
          port: sinkUrl.port,
          path: sinkUrl.pathname + sinkUrl.search,
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            'Content-Length': body.length,
            'Idempotency-Key': `${ev.event_id}-sms`,
          },
          timeout: 30000,
        },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode, answer: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('provider timeout')));
      req.on('error', reject);
      req.end(body);
    });
  };
}

// --- the delivery log ----------------------------------------------------------

const LOG_DDL = `
  CREATE TABLE IF NOT EXISTS delivery_log (
    id         bigserial PRIMARY KEY,
    event_id   text        NOT NULL,
    recipient  text        NOT NULL,
    status     integer     NOT NULL,
    answer     text        NOT NULL,
    logged_at  timestamptz NOT NULL DEFAULT now()
  )`;

const LOG_INSERT =
  'INSERT INTO delivery_log (event_id, recipient, status, answer) VALUES ($1, $2, $3, $4)';

// One autocommit INSERT: with synchronous_commit on, it returns once the row
// is flushed to the WAL on disk.
async function logRow(db, ev, status, answer) {
  await db.query({ name: 'log_insert', text: LOG_INSERT, values: [ev.event_id, ev.phone, status, answer] });
}

// Sends one event and logs the answer. A transport error or a 5xx is thrown
// (after logging the 5xx) so that a queue peer's own retry takes over.
async function deliver(send, db, ev) {
  const { status, answer } = await send(ev);
  await logRow(db, ev, status, answer);
  if (status >= 500) throw new Error(`provider answered ${status}`);
}

function makePool(pgUrl, max) {
  return new Pool({ connectionString: pgUrl, max });
}

async function countLogRows(db) {
  const { rows } = await db.query('SELECT count(*)::bigint AS n FROM delivery_log');
  return Number(rows[0].n);
}

// --- phases ----------------------------------------------------------------------

// With BENCH_HANDSHAKE=1 (set by peers.py), the peer says which phase it
// reached on stderr and waits for one line on stdin, so the harness can read
// the CPU counters of the peer and of its servers at exactly that point.
let stdinLines = null;
async function phase(name) {
  if (process.env.BENCH_HANDSHAKE !== '1') return;
  if (!stdinLines) {
    stdinLines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  }
  process.stderr.write(`@phase ${name}\n`);
  const r = await stdinLines.next();
  if (r.done) fail('harness closed stdin during the phase handshake');
}

const now = () => Number(process.hrtime.bigint()) / 1e9;

// Resolves once check() is true, polling every `everyMs`.
async function until(check, everyMs = 20, timeoutS = 3600) {
  const deadline = now() + timeoutS;
  for (;;) {
    if (await check()) return;
    if (now() > deadline) throw new Error('timed out waiting for completion');
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function result(fields) {
  process.stdout.write(JSON.stringify(fields) + '\n');
}

// Runs main(); any error is fatal (exit 1) so the harness never reads a
// result from a broken run.
function runMain(main) {
  const guard = setTimeout(() => {
    process.stderr.write('peer: overall time limit reached\n');
    process.exit(1);
  }, envInt('PEER_TIMEOUT_S', 1800) * 1000);
  guard.unref();
  main().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`peer: ${err && err.stack ? err.stack : err}\n`);
      process.exit(1);
    },
  );
}

module.exports = {
  config, envStr, envInt, fail, makeEvent, render, makeSender, LOG_DDL, logRow, deliver,
  makePool, countLogRows, phase, now, until, result, runMain,
};

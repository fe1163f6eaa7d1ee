'use strict';
// Peer 3, graphile-worker 0.17: jobs in PostgreSQL, run by one worker pool
// with concurrency INFLIGHT; each task POSTs and INSERTs its log row through
// the worker's own pool.
//   MODE=defaults  one fetch query and one completion query per job
//   MODE=batched   the performance docs' batching: localQueue.size 500,
//                  completeJobBatchDelay 0, failJobBatchDelay 0
//
// env: SINK_URL, N, INFLIGHT, PGURL, MODE

const { run, runMigrations, makeWorkerUtils, Logger } = require('graphile-worker');
const c = require('./common');

// Warnings and errors to stderr; stdout carries only the result line.
const logger = new Logger(() => (level, message) => {
  if (level === 'error' || level === 'warning') process.stderr.write(`graphile-worker ${level}: ${message}\n`);
});

async function main() {
  const { sinkUrl, n, inflight } = c.config();
  const pgUrl = c.envStr('PGURL');
  const mode = c.envStr('MODE', 'defaults');
  if (mode !== 'defaults' && mode !== 'batched') c.fail(`MODE must be defaults or batched, not ${mode}`);

  const db = c.makePool(pgUrl, 2);
  await db.query('DROP TABLE IF EXISTS delivery_log');
  await db.query('DROP SCHEMA IF EXISTS graphile_worker CASCADE');
  await db.query(c.LOG_DDL);

  const options = {
    connectionString: pgUrl,
    concurrency: inflight,
    // The docs: "we recommend setting it to 10 or concurrentJobs + 2, whichever is larger".
    maxPoolSize: Math.max(10, inflight + 2),
    noHandleSignals: true,
    logger,
  };
  if (mode === 'batched') {
    options.preset = {
      worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 },
    };
  }
  await runMigrations(options);

  const utils = await makeWorkerUtils({ connectionString: pgUrl, logger });
  const t0 = c.now();
  const CHUNK = 5000;
  for (let lo = 0; lo < n; lo += CHUNK) {
    const specs = [];
    for (let i = lo; i < Math.min(n, lo + CHUNK); i++) specs.push({ identifier: 'sms', payload: c.makeEvent(i) });
    await utils.addJobs(specs);
  }
  const enqueueS = c.now() - t0;
  await utils.release();
  await c.phase('enqueued');

  const send = c.makeSender(sinkUrl, inflight);
  let logged = 0;
  const t1 = c.now();
  const runner = await run({
    ...options,
    taskList: {
      sms: async (ev, helpers) => {
        await helpers.withPgClient((client) => c.deliver(send, client, ev));
        logged++;
      },
    },
  });
  // Done when every log row is written and no job is left in the queue
  // (graphile-worker deletes a job when it completes).
  await c.until(async () => {
    if (logged < n) return false;
    const { rows } = await db.query('SELECT count(*)::bigint AS n FROM graphile_worker._private_jobs');
    return Number(rows[0].n) === 0;
  });
  const processS = c.now() - t1;
  await c.phase('processed');

  await runner.stop();
  const logRows = await c.countLogRows(db);
  await db.end();
  c.result({ peer: 'graphile', mode, n, log_rows: logRows, enqueue_s: enqueueS, process_s: processS });
  if (logRows !== n) throw new Error(`expected ${n} log rows, found ${logRows}`);
}

c.runMain(main);

'use strict';
// Peer 2, pg-boss 10: jobs in PostgreSQL, fetched 5000 at a time
// (batchSize 5000, pollingIntervalSeconds 0.5). The handler gets the whole
// batch, POSTs it INFLIGHT at a time and INSERTs each log row; pg-boss then
// completes the batch with one query. A batch succeeds or fails as a whole:
// one failed POST makes pg-boss retry all 5000 jobs.
//
// env: SINK_URL, N, INFLIGHT, PGURL

const PgBoss = require('pg-boss');
const c = require('./common');

const QUEUE = 'sms';
const BATCH = 5000;

async function main() {
  const { sinkUrl, n, inflight } = c.config();
  const pgUrl = c.envStr('PGURL');
  const db = c.makePool(pgUrl, inflight + 1);
  await db.query('DROP TABLE IF EXISTS delivery_log');
  await db.query('DROP SCHEMA IF EXISTS pgboss CASCADE');
  await db.query(c.LOG_DDL);

  const boss = new PgBoss({
    connectionString: pgUrl,
    max: inflight + 2,
  });
  boss.on('error', (err) => process.stderr.write(`pg-boss: ${err.stack || err}\n`));
  await boss.start();
  await boss.createQueue(QUEUE);

  const t0 = c.now();
  const CHUNK = 5000;
  for (let lo = 0; lo < n; lo += CHUNK) {
    const jobs = [];
    for (let i = lo; i < Math.min(n, lo + CHUNK); i++) jobs.push({ name: QUEUE, data: c.makeEvent(i) });
    await boss.insert(jobs);
  }
  const enqueueS = c.now() - t0;
  await c.phase('enqueued');

  const send = c.makeSender(sinkUrl, inflight);
  let logged = 0;
  const t1 = c.now();
  await boss.work(QUEUE, { batchSize: BATCH, pollingIntervalSeconds: 0.5 }, async (jobs) => {
    let next = 0;
    let failure = null;
    async function lane() {
      while (next < jobs.length) {
        const ev = jobs[next++].data;
        try {
          await c.deliver(send, db, ev);
          logged++;
        } catch (err) {
          failure = failure || err; // finish the others; the batch fails as a whole
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(inflight, jobs.length) }, lane));
    if (failure) throw failure;
  });
  // Done when every log row is written and pg-boss has marked every job completed.
  await c.until(async () => {
    if (logged < n) return false;
    const { rows } = await db.query(
      "SELECT count(*)::bigint AS n FROM pgboss.job WHERE name = $1 AND state = 'completed'", [QUEUE]);
    return Number(rows[0].n) >= n;
  });
  const processS = c.now() - t1;
  await c.phase('processed');

  await boss.stop({ graceful: true, wait: true, timeout: 30000 });
  const logRows = await c.countLogRows(db);
  await db.end();
  c.result({ peer: 'pgboss', mode: 'default', n, log_rows: logRows, enqueue_s: enqueueS, process_s: processS });
  if (logRows !== n) throw new Error(`expected ${n} log rows, found ${logRows}`);
}

c.runMain(main);

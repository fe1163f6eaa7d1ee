'use strict';
// Peer 4, BullMQ 6 on Redis (ioredis 5): jobs in Redis, whose AOF is fsynced
// every second (MODE=everysec) or on every write (MODE=always) as the server
// is started by servers.py; one Worker with concurrency INFLIGHT; each job
// POSTs and INSERTs its log row into PostgreSQL before BullMQ completes it.
//
// env: SINK_URL, N, INFLIGHT, REDIS_URL, PGURL, MODE (everysec|always: the
// Redis server's appendfsync, checked here so a run is never mislabelled)

const { Queue, Worker } = require('bullmq');
const IORedis = require('ioredis');
const c = require('./common');

const QUEUE = 'sms';

async function main() {
  const { sinkUrl, n, inflight } = c.config();
  const pgUrl = c.envStr('PGURL');
  const redisUrl = new URL(c.envStr('REDIS_URL'));
  const mode = c.envStr('MODE', 'everysec');
  if (mode !== 'everysec' && mode !== 'always') c.fail(`MODE must be everysec or always, not ${mode}`);
  const connection = { host: redisUrl.hostname, port: Number(redisUrl.port), maxRetriesPerRequest: null };

  const admin = new IORedis(connection);
  const [, aof] = await admin.config('GET', 'appendonly');
  const [, fsync] = await admin.config('GET', 'appendfsync');
  if (aof !== 'yes' || fsync !== mode) c.fail(`redis has appendonly ${aof}, appendfsync ${fsync}; MODE is ${mode}`);
  await admin.flushall();
  await admin.quit();

  const db = c.makePool(pgUrl, inflight + 1);
  await db.query('DROP TABLE IF EXISTS delivery_log');
  await db.query(c.LOG_DDL);

  const queue = new Queue(QUEUE, {
    connection,
    // Three tries with backoff, as pg-boss's default retryLimit 2 gives.
    defaultJobOptions: { attempts: 3, backoff: { type: 'exponential', delay: 1000 } },
  });
  const t0 = c.now();
  const CHUNK = 1000;
  for (let lo = 0; lo < n; lo += CHUNK) {
    const jobs = [];
    for (let i = lo; i < Math.min(n, lo + CHUNK); i++) jobs.push({ name: 'sms', data: c.makeEvent(i) });
    await queue.addBulk(jobs);
  }
  const enqueueS = c.now() - t0;
  await c.phase('enqueued');

  const send = c.makeSender(sinkUrl, inflight);
  let completed = 0;
  const t1 = c.now();
  const worker = new Worker(QUEUE, async (job) => c.deliver(send, db, job.data), {
    connection,
    concurrency: inflight,
  });
  worker.on('completed', () => completed++);
  worker.on('failed', (job, err) => process.stderr.write(`bullmq: job ${job && job.id} failed: ${err.message}\n`));
  worker.on('error', (err) => process.stderr.write(`bullmq: ${err.stack || err}\n`));
  // 'completed' fires once BullMQ has moved the job to its completed set.
  await c.until(() => completed >= n, 5);
  const processS = c.now() - t1;
  await c.phase('processed');

  await worker.close();
  const counts = await queue.getJobCounts('completed');
  await queue.close();
  const logRows = await c.countLogRows(db);
  await db.end();
  c.result({ peer: 'bullmq', mode, n, log_rows: logRows, enqueue_s: enqueueS, process_s: processS });
  if (counts.completed !== n) throw new Error(`expected ${n} completed jobs, BullMQ has ${counts.completed}`);
  if (logRows !== n) throw new Error(`expected ${n} log rows, found ${logRows}`);
}

c.runMain(main);

// The support page in a real browser: Debian's Chromium, headless, driven by
// playwright-core against a running tackd. tests/integration/test_support_page.py
// sets the scene (tackd with an HTTP listener, a real HTTP sink as the SMS
// provider, events emitted) and runs
//
//     node support_page.js PLAN.json
//
// PLAN.json says where tackd is, who logs in and what the page must show
// (the exact texts come from `tackd log --json`). Each check prints one line,
// "ok - NAME" or "not ok - NAME: why"; the last line is "N passed, N failed".
// Exit status 0 only when every check passed. Screenshots go to plan.out_dir.
'use strict';

const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const plan = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const WAIT = plan.wait_ms || 15000;

let passed = 0;
let failed = 0;

function fail(message) {
  throw new Error(message);
}

function expectEqual(actual, expected, what) {
  if (actual !== expected) fail(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

function expectTrue(value, what) {
  if (!value) fail(what);
}

// The page a failed check leaves a screenshot of (failed-N.png in out_dir).
let shown = null;

async function check(name, body) {
  try {
    await body();
    passed += 1;
    console.log(`ok - ${name}`);
  } catch (err) {
    failed += 1;
    console.log(`not ok - ${name}: ${String(err && err.message || err).split('\n').join('\n#   ')}`);
    if (shown) {
      const file = path.join(plan.out_dir, `failed-${passed + failed}.png`);
      await shown.screenshot({ path: file, fullPage: true }).catch(() => {});
      console.log(`#   screenshot: ${file}`);
    }
  }
}

// Everything a page did that a person would call broken: script errors,
// CSP refusals, alert() from injected markup.
function watch(page, label, problems, allowed = []) {
  page.on('pageerror', (err) => problems.push(`${label}: page error: ${err.message}`));
  page.on('dialog', async (dialog) => {
    problems.push(`${label}: a JavaScript ${dialog.type()} opened: ${dialog.message()}`);
    await dialog.dismiss().catch(() => {});
  });
  page.on('console', (msg) => {
    const text = msg.text();
    const where = msg.location().url || '';
    if (msg.type() !== 'error') return;
    // The browser's own favicon request is not the page's doing; the HTML
    // e-mail's inline styles and scripts are meant to be refused.
    if (/Failed to load resource/.test(text) && /favicon/.test(where)) return;
    if (where === 'about:srcdoc') return;
    if (allowed.some((re) => re.test(text))) return;
    problems.push(`${label}: console error: ${text}`);
  });
}

// Types a query and presses Enter; returns once the page has its answer.
async function search(page, query) {
  await page.getByLabel('Order number, phone or e-mail').fill(query);
  await Promise.all([
    page.waitForResponse((response) => new URL(response.url()).pathname.startsWith('/v1/')),
    page.keyboard.press('Enter'),
  ]);
}

// The title of the order view (the orders list has "Order N" links too).
function orderHeading(page, id) {
  return page.getByRole('heading', { level: 2, name: `Order ${id}`, exact: true });
}

// The card of one message on the order view.
function card(page, id) {
  return page.locator(`#msg-${id}`);
}

async function waitForFile(file, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!fs.existsSync(file)) {
    if (Date.now() > deadline) fail(`${file} did not appear within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function noHorizontalOverflow(page) {
  return page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
}

// ---- the walk: an order with a message in every state a support agent
// meets, read in English and in Swedish (plan.mode "walk") ----------------------

// The characters of the page's own words (not the customer's or the
// provider's texts) that DejaVu Sans cannot draw.
async function undrawable(page, ranges) {
  const chars = await page.evaluate(() => {
    const skip = '.text, .text-start, .answer, .subject-text, .address, .customer, .note-text, ' +
                 'code, .excerpt, .recipient-address, .order-id, iframe, script, style, noscript';
    const seen = new Set();
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.parentElement.closest(skip)) continue;
      for (const ch of node.textContent) seen.add(ch);
    }
    return [...seen];
  });
  return chars.filter((ch) => {
    const code = ch.codePointAt(0);
    if (code === 0x0a || code === 0x09 || code === 0x0d) return false;
    return !ranges.some(([first, last]) => code >= first && code <= last);
  }).map((ch) => `${ch} U+${ch.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}`);
}

async function badgeText(locator) {
  return (await locator.locator('.badge.state').textContent()).trim();
}

// What each message card must say, in one language.
async function expectStates(page, ids, words) {
  const expectCard = async (name, label, tone, note) => {
    const c = card(page, ids[name]);
    expectEqual(await badgeText(c), label, `${name}: the headline`);
    expectTrue(await c.locator(`.badge.state.tone-${tone}`).isVisible(), `${name}: the badge is ${tone}`);
    if (note) {
      const notes = await c.locator('.state-note').allTextContents();
      expectTrue(notes.includes(note), `${name}: the note ${JSON.stringify(note)} among ${JSON.stringify(notes)}`);
    }
    return c;
  };
  const sent = await expectCard('sent_sms', words.sent, 'neutral');
  expectTrue(await sent.getByText(words.no_receipt).isVisible(), 'sent_sms: no receipt yet');
  const notNeeded = await expectCard('not_needed_email', words.not_needed, 'off');
  expectEqual(await notNeeded.getByText(words.not_tried).count(), 0, 'not_needed_email: "not tried yet"');
  await expectCard('failed_sms', words.failed_sms, 'bad', words.no_retry_by_itself);
  await expectCard('fallback_email', words.sent, 'neutral');
  const refused = await expectCard('refused_sms', words.refused, 'bad', words.refused_note);
  expectEqual(await refused.getByText(words.failed_sms).count(), 0, 'refused_sms: blamed on the provider');
  await expectCard('shipped_email', words.sent, 'neutral');
  await expectCard('held_sms', words.held, 'wait', words.held_note);
  const standby = await expectCard('standby_email', words.standby, 'off', words.standby_note);
  expectEqual(await standby.getByText(words.not_tried).count(), 0, 'standby_email: "not tried yet"');
}

async function walk(browser, problems) {
  const order = plan.order;
  const ids = order.messages;
  const credentials = { username: plan.user, password: plan.password };
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-GB',
                                             timezoneId: plan.timezone, httpCredentials: credentials });
  context.setDefaultTimeout(WAIT);
  const page = await context.newPage();
  shown = page;
  const allowed = [];
  watch(page, 'walk', problems, allowed);

  const english = {
    sent: 'Sent to the provider',
    no_receipt: /^No delivery receipt yet: the SMS provider has it/,
    not_needed: 'Not needed: the first message got through',
    not_tried: /Not tried yet/,
    failed_sms: 'Refused by the SMS provider',
    no_retry_by_itself: 'tack does not try again by itself.',
    refused: 'Refused by tack before sending: ' + order.refused_reason,
    refused_note: 'No provider saw it. Correct the phone number or e-mail address to send it.',
    held: 'On hold',
    held_note: 'Paused by staff: it is not sent until someone releases it.',
    standby: 'Waiting as a fallback',
    standby_note: 'Sent only if the first message fails.',
    summary: '2 SMS failed, 1 SMS held, 1 e-mail waiting as a fallback, 1 SMS sent, 2 e-mails sent, ' +
             '1 e-mail not needed',
  };
  const swedish = {
    sent: 'Skickat till leverantören',
    no_receipt: /^Inget leveranskvitto ännu: sms-leverantören har det/,
    not_needed: 'Behövs inte: det första meddelandet kom fram',
    not_tried: /Inte försökt ännu/,
    failed_sms: 'Nekat av sms-leverantören',
    no_retry_by_itself: 'tack försöker inte igen av sig själv.',
    refused: 'Stoppat av tack före sändning: ' + order.refused_reason,
    refused_note: 'Ingen leverantör såg det. Rätta telefonnumret eller e-postadressen för att skicka det.',
    held: 'Pausat',
    held_note: 'Pausat av personal: det skickas inte förrän någon släpper det.',
    standby: 'Väntar som reserv',
    standby_note: 'Skickas bara om det första meddelandet misslyckas.',
    summary: '2 sms misslyckades, 1 sms pausat, 1 mejl väntar som reserv, 1 sms skickat, 2 mejl skickade, ' +
             '1 mejl behövdes inte',
  };

  await check('English: every message says what happened, who decided and what comes next', async () => {
    await page.goto(plan.base_url + '/');
    await search(page, order.id);
    await orderHeading(page, order.id).waitFor();
    await card(page, ids.standby_email).waitFor();
    expectTrue(order.refused_reason.includes('fixed line'), 'the reason: ' + order.refused_reason);
    await expectStates(page, ids, english);
    await page.screenshot({ path: path.join(plan.out_dir, 'walk-en-1280.png'), fullPage: true });
  });

  await check('English: the order head sums up, and says a message is held', async () => {
    const head = page.locator('.order-head');
    expectEqual(await head.locator('.order-summary').textContent(), english.summary, 'the summary');
    expectTrue(await head.locator('.order-summary.tone-bad').isVisible(), 'the summary is red (a message failed)');
    const text = await head.textContent();
    expectTrue(!/nothing (more )?(is )?waiting/i.test(text), 'the head says nothing is waiting: ' + text);
    // Event badges: red where a message failed, never green.
    for (const name of ['Packed', 'Shipped']) {
      const e = page.locator('.event', { has: page.getByRole('heading', { name, exact: true }) }).first();
      expectTrue(await e.locator('.badge.verdict.tone-bad').isVisible(), `${name}: the event badge is red`);
      expectEqual(await e.locator('.badge.verdict.tone-good').count(), 0, `${name}: a green event badge`);
    }
    const placed = page.locator('.event', { has: page.getByRole('heading', { name: 'Placed', exact: true }) });
    expectEqual((await placed.locator('.badge.verdict').textContent()).trim(), '2 messages', 'placed event');
  });

  await check('English: the actions offered are those that can succeed', async () => {
    const buttons = async (name) => (await card(page, ids[name]).locator('.actions button').allTextContents());
    expectEqual(JSON.stringify(await buttons('refused_sms')), '[]', 'buttons on the SMS tack refused');
    expectTrue((await buttons('failed_sms')).includes('Retry'), 'Retry on the SMS the provider refused');
    const held = await buttons('held_sms');
    expectTrue(held.includes('Release') && held.includes('Cancel') && !held.includes('Hold'),
               'the held SMS: ' + JSON.stringify(held));
    expectTrue((await buttons('shipped_email')).includes('Send again'), 'Send again on a sent e-mail');
    expectEqual((await buttons('not_needed_email')).length, 0, 'buttons on a message not needed');
    expectTrue(!(await buttons('standby_email')).includes('Retry'), 'Retry on a standby');
  });

  await check('English: name, times in the shop\'s zone, a folded e-mail and a split shipment at a glance', async () => {
    expectEqual(await page.locator('.order-head .customer').textContent(), order.customer_name, 'the name');
    const shipped = page.locator('.event', { has: page.getByRole('heading', { name: 'Shipped', exact: true }) }).first();
    expectEqual(await shipped.locator('.event-meta time').first().textContent(), order.shipped_local,
                'when it shipped (browser in ' + plan.timezone + ')');
    expectEqual(await page.locator('.split-shipment').textContent(), 'Split shipment: 2 parcels', 'split label');
    // Only the two shipped events are parcels (the others share one URL).
    expectEqual(JSON.stringify(await page.locator('.parcel').allTextContents()),
                JSON.stringify(['Parcel 1 of 2', 'Parcel 2 of 2']), 'parcel labels');
    expectEqual(await shipped.locator('.parcel').textContent(), 'Parcel 1 of 2', 'the first shipped event');
    const mail = card(page, ids.shipped_email);
    const full = mail.locator('.long-text .text');
    expectTrue(!(await full.isVisible()), 'the long e-mail is folded');
    await mail.getByText(/^Show the whole e-mail \(\d+ lines\)$/).click();
    await full.waitFor({ state: 'visible' });
  });

  await check('the page\'s words use only characters Debian\'s default font draws', async () => {
    const missing = await undrawable(page, plan.dejavu);
    expectEqual(missing.join(', '), '', 'characters DejaVu Sans lacks');
  });

  await check('English at 375 px: the same words, no sideways scrolling', async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    await search(page, order.id);
    await card(page, ids.standby_email).waitFor();
    await expectStates(page, ids, english);
    const size = await noHorizontalOverflow(page);
    expectTrue(size.scroll <= size.client, `scrollWidth ${size.scroll} > clientWidth ${size.client}`);
    await page.screenshot({ path: path.join(plan.out_dir, 'walk-en-375.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  await check('Svenska: the switch turns the page Swedish, and every state reads right', async () => {
    await page.getByRole('button', { name: 'Svenska' }).click();
    await page.getByRole('heading', { level: 2, name: `Order ${order.id}`, exact: true }).waitFor();
    await page.locator('.badge.state', { hasText: swedish.sent }).first().waitFor();
    expectEqual(await page.getByRole('button', { name: 'Svenska' }).getAttribute('aria-pressed'), 'true', 'switch');
    expectEqual(await page.evaluate(() => document.documentElement.lang), 'sv', 'the page\'s lang');
    await expectStates(page, ids, swedish);
    expectEqual(await page.locator('.order-summary').textContent(), swedish.summary, 'the summary');
    expectEqual(await page.locator('.split-shipment').textContent(), 'Delad leverans: 2 paket', 'split');
    const shipped = page.locator('.event', { has: page.getByRole('heading', { name: 'Shipped', exact: true }) }).first();
    const when = await shipped.locator('.event-meta time').first().textContent();
    expectTrue(/11:15:00/.test(when) && /CET/.test(when), 'the time in Stockholm: ' + when);
    expectEqual(await page.locator('.order-head .label').first().textContent(), 'Kund: ', 'the name\'s label');
    expectEqual(JSON.stringify(await undrawable(page, plan.dejavu)), '[]', 'characters DejaVu Sans lacks');
    await page.screenshot({ path: path.join(plan.out_dir, 'walk-sv-1280.png'), fullPage: true });
    // Remembered: a reload stays Swedish.
    await page.reload();
    await page.getByLabel('Ordernummer, telefon eller e-post').waitFor();
    await card(page, ids.held_sms).locator('.badge.state', { hasText: swedish.held }).waitFor();
  });

  await check('Svenska at 375 px', async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    await card(page, ids.standby_email).waitFor();
    await expectStates(page, ids, swedish);
    const size = await noHorizontalOverflow(page);
    expectTrue(size.scroll <= size.client, `scrollWidth ${size.scroll} > clientWidth ${size.client}`);
    await page.screenshot({ path: path.join(plan.out_dir, 'walk-sv-375.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  await check('a Swedish browser opens in Swedish, a Polish one in Polish', async () => {
    for (const [locale, label, sent] of [['sv-SE', 'Ordernummer, telefon eller e-post', swedish.sent],
                                        ['pl-PL', 'Numer zamówienia, telefon lub e-mail', 'Wysłano do dostawcy']]) {
      const other = await browser.newContext({ locale, httpCredentials: credentials, timezoneId: plan.timezone });
      other.setDefaultTimeout(WAIT);
      const p = await other.newPage();
      watch(p, locale, problems);
      await p.goto(plan.base_url + '/#order=' + encodeURIComponent(order.id));
      await p.getByLabel(label).waitFor();
      await card(p, ids.sent_sms).locator('.badge.state', { hasText: sent }).waitFor();
      expectEqual(JSON.stringify(await undrawable(p, plan.dejavu)), '[]', `${locale}: characters DejaVu Sans lacks`);
      await other.close();
    }
  });

  await check('the support actions: a note, a resend and a contact correction, with a reason', async () => {
    // Back in English (the switch is remembered); after the walk, as what
    // tackd does here changes the order.
    await page.getByRole('button', { name: 'English' }).click();
    await page.getByRole('button', { name: 'Add a note' }).waitFor();
    // Each form insists on its words before asking tackd.
    await page.getByRole('button', { name: 'Add a note' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Save the note' }).click();
    expectEqual((await dialog.getByRole('alert').textContent()).trim(), 'Write the note first.', 'empty note');
    await dialog.getByLabel('Note (required)').fill('The customer called about the second parcel.');
    await dialog.getByRole('button', { name: 'Save the note' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.locator('.audit .note', { hasText: 'The customer called about the second parcel.' }).waitFor();
    expectTrue(await page.getByText(`${plan.user} (support page) wrote a note:`).first().isVisible(), 'who noted');

    const mail = card(page, ids.shipped_email);
    await mail.getByRole('button', { name: /^Send again/ }).click();
    await dialog.getByRole('button', { name: 'Send again' }).click();
    expectEqual((await dialog.getByRole('alert').textContent()).trim(),
                'Say why: the reason is kept with the order.', 'no reason');
    await dialog.getByLabel('Why (required)').fill('The customer deleted it by mistake.');
    const before = await page.locator('.message').count();
    await dialog.getByRole('button', { name: 'Send again' }).click();
    await dialog.waitFor({ state: 'hidden' });
    expectEqual(await page.locator('#status').textContent(),
                `A new copy of the e-mail to ${order.email} is on its way.`, 'status line');
    await page.waitForFunction((n) => document.querySelectorAll('.message').length > n, before);

    await page.getByRole('button', { name: 'Correct phone or e-mail' }).click();
    await dialog.getByLabel('Why (required)').fill('A mobile number instead of the office line.');
    await dialog.getByRole('button', { name: 'Save and send again' }).click();
    expectEqual((await dialog.getByRole('alert').textContent()).trim(),
                'Fill in a phone number or an e-mail address.', 'no phone or e-mail');
    await dialog.getByLabel('New phone number').fill(order.phone);
    await dialog.getByRole('button', { name: 'Save and send again' }).click();
    await dialog.waitFor({ state: 'hidden' });
    expectTrue(/^Saved\. \d+ messages? (is|are) sent again\.$/.test(await page.locator('#status').textContent()),
               'status line: ' + await page.locator('#status').textContent());
  });

  // Last: tackd reloads without any support user (the Python side does
  // that when asked on stdout); the page must say so, not "wrong password".
  await check('no support users configured: the page says so', async () => {
    await orderHeading(page, order.id).waitFor();
    await page.locator('#results:not([aria-busy])').waitFor();
    allowed.push(/status of 401/);
    console.log('# waiting for no users');
    await waitForFile(plan.reload_flag, 2 * WAIT);
    await page.getByRole('button', { name: 'Refresh' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expectEqual((await alert.textContent()).trim(),
                'No support users are configured in tack, so nobody can sign in. An administrator adds one ' +
                'under http.users in tack’s configuration.', 'the 401 message');
  });

  await check('nothing went wrong in the browser (no script error, CSP refusal or alert)', async () => {
    expectEqual(problems.join('\n'), '', 'problems');
  });
  await context.close();
}

// ---- time: a planned follow-up, a skipped marketing SMS and a cancelled
// promise watch, as support reads them (plan.mode "time") ---------------------

// The words of the card's line "Why: ..." (the server's note, as it is).
async function whyText(c) {
  return (await c.locator('.why').textContent()).trim();
}

async function buttonsOf(c) {
  return (await c.locator('.actions button').allTextContents()).map((s) => s.trim());
}

async function timeWalk(browser, problems) {
  const order = plan.order;
  const ids = order.messages;
  const credentials = { username: plan.user, password: plan.password };
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-GB',
                                             timezoneId: plan.timezone, httpCredentials: credentials });
  context.setDefaultTimeout(WAIT);
  const page = await context.newPage();
  shown = page;
  watch(page, 'time', problems);
  // ICU spells September "Sept" in British English, Python "Sep".
  const sameTime = (text) => text.replace(/\bSept\b/, 'Sep');

  await check('a planned follow-up says when it goes out, why, and that it is written then', async () => {
    await page.goto(plan.base_url + '/');
    await search(page, order.id);
    await orderHeading(page, order.id).waitFor();
    const c = card(page, ids.follow_up);
    await c.waitFor();
    expectEqual(await badgeText(c), 'Scheduled', 'the headline');
    expectEqual(sameTime((await c.locator('.due-line').textContent()).trim()), 'Goes out ' + order.due_local,
                'when it goes out (browser in ' + plan.timezone + ')');
    expectEqual(await whyText(c), 'Why: ' + order.follow_up_note, 'why it waits');
    expectTrue(await c.getByText('Written when it goes out.', { exact: true }).isVisible(),
               '"Written when it goes out." instead of an empty text');
    expectEqual(await c.locator('.text').count(), 0, 'a text block on a message not yet written');
    expectEqual(await c.locator('.subject').count(), 0, 'a subject line on a message not yet written');
    expectEqual(await c.getByText('Not tried yet.').count(), 1, 'not tried yet');
    expectEqual(JSON.stringify(await buttonsOf(c)), JSON.stringify(['Send now', 'Cancel']),
                'the actions on a scheduled message');
    await page.screenshot({ path: path.join(plan.out_dir, 'time-en-1280.png'), fullPage: true });
  });

  await check('the order head names the planned follow-up and its time', async () => {
    const head = page.locator('.order-head');
    const next = sameTime((await head.locator('.next-contact').textContent()).trim());
    expectTrue(next.startsWith('Follow-up planned ' + order.due_local),
               'the next contact: ' + JSON.stringify(next));
    expectTrue(next.includes('e-mail to ' + order.email), 'the next contact names the e-mail: ' + next);
    expectEqual(await head.locator('.order-summary').textContent(),
                '1 e-mail planned, 1 SMS skipped, 1 SMS not sent', 'the summary');
  });

  await check('a skipped marketing SMS: its own neutral colour, "Skipped" and the reason', async () => {
    const c = card(page, ids.skipped);
    expectEqual(await badgeText(c), 'Skipped', 'the headline');
    expectTrue(await c.locator('.badge.state.tone-skip').isVisible(), 'the badge in the skipped colour');
    expectEqual(await c.locator('.tone-bad, .tone-wait, .tone-good').count(), 0, 'an alarming colour');
    expectEqual(await whyText(c), 'Why: ' + order.skipped_note, 'the reason');
    expectEqual(JSON.stringify(await buttonsOf(c)), '[]', 'actions on a skipped message');
    const colours = await page.evaluate((id) => {
      const style = (sel) => {
        const s = getComputedStyle(document.querySelector(sel));
        return s.color + ' on ' + s.backgroundColor;
      };
      return { skip: style(`#msg-${id} .badge.state`), off: style('.badge.state.tone-off'),
               wait: style('.badge.state.tone-wait') };
    }, ids.skipped);
    expectTrue(colours.skip !== colours.off && colours.skip !== colours.wait,
               'skipped has a colour of its own: ' + JSON.stringify(colours));
  });

  await check('a cancelled promise watch says why it was cancelled', async () => {
    const c = card(page, ids.cancelled);
    expectEqual(await badgeText(c), 'Cancelled', 'the headline');
    expectEqual(await whyText(c), 'Why: ' + order.cancelled_note, 'why');
    expectEqual(await c.getByText(/Cancelled by staff/).count(), 0, 'blamed on staff');
    // Nothing of the paid event went out: its badge is grey, never green.
    const paid = page.locator('.event', { has: page.getByRole('heading', { name: 'Paid', exact: true }) });
    expectTrue(await paid.locator('.badge.verdict.tone-off').isVisible(), 'the paid event\'s badge is grey');
    expectEqual(await paid.locator('.badge.verdict.tone-good').count(), 0, 'a green badge on the paid event');
  });

  await check('Swedish and Polish: the same times and reasons in their words', async () => {
    await page.getByRole('button', { name: 'Svenska' }).click();
    const c = card(page, ids.follow_up);
    await c.locator('.badge.state', { hasText: 'Schemalagt' }).waitFor();
    const due = (await c.locator('.due-line').textContent()).trim();
    expectTrue(due.startsWith('Skickas ') && due.includes(order.due_hhmm), 'the Swedish time: ' + due);
    expectEqual(await whyText(c), 'Varför: ' + order.follow_up_note, 'the Swedish label');
    expectTrue(await c.getByText('Skrivs när det skickas.', { exact: true }).isVisible(), 'not written yet');
    expectEqual(JSON.stringify(await buttonsOf(c)), JSON.stringify(['Skicka nu', 'Avbryt']), 'actions');
    expectEqual(await badgeText(card(page, ids.skipped)), 'Hoppades över', 'skipped');
    const next = (await page.locator('.next-contact').textContent()).trim();
    expectTrue(next.startsWith('Uppföljning planerad ') && next.includes(order.due_hhmm), 'next: ' + next);
    expectEqual(JSON.stringify(await undrawable(page, plan.dejavu)), '[]', 'characters DejaVu Sans lacks');
    await page.screenshot({ path: path.join(plan.out_dir, 'time-sv-1280.png'), fullPage: true });
    await page.getByRole('button', { name: 'Polski' }).click();
    await card(page, ids.skipped).locator('.badge.state', { hasText: 'Pominięto' }).waitFor();
    expectEqual(await whyText(card(page, ids.skipped)), 'Dlaczego: ' + order.skipped_note, 'the Polish label');
    expectEqual(JSON.stringify(await buttonsOf(card(page, ids.follow_up))),
                JSON.stringify(['Wyślij teraz', 'Anuluj']), 'actions');
    expectEqual(JSON.stringify(await undrawable(page, plan.dejavu)), '[]', 'characters DejaVu Sans lacks');
    await page.getByRole('button', { name: 'English' }).click();
    await card(page, ids.skipped).locator('.badge.state', { hasText: 'Skipped' }).waitFor();
  });

  await check('at 375 px: the time and the reason fit, no sideways scrolling', async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    await card(page, ids.follow_up).locator('.due-line').waitFor();
    const size = await noHorizontalOverflow(page);
    expectTrue(size.scroll <= size.client, `scrollWidth ${size.scroll} > clientWidth ${size.client}`);
    await page.screenshot({ path: path.join(plan.out_dir, 'time-en-375.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  await check('Send now asks first; going back changes nothing', async () => {
    const c = card(page, ids.follow_up);
    await c.getByRole('button', { name: /^Send now/ }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    expectEqual(await dialog.getByRole('heading').textContent(), 'Send this e-mail now?', 'dialog title');
    expectTrue((await dialog.textContent()).includes(order.email), 'the dialog names the recipient');
    expectEqual(await page.evaluate(() => document.activeElement.id), 'confirm-no', 'focused button');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    expectEqual(await page.evaluate(() => document.activeElement.id), `send-now-${ids.follow_up}`,
                'focus back on the Send now button');
    expectEqual(await badgeText(c), 'Scheduled', 'the state after going back');
  });

  await check('Send now through the dialog: the follow-up is written and goes out', async () => {
    const c = card(page, ids.follow_up);
    await c.getByRole('button', { name: /^Send now/ }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Send now' }).click();
    await dialog.waitFor({ state: 'hidden' });
    expectEqual(await page.locator('#status').textContent(),
                `The e-mail to ${order.email} goes out now.`, 'status line');
    // The page refreshes itself while the message is on its way.
    await c.locator('.badge.state', { hasText: 'Sent to the provider' }).waitFor({ timeout: WAIT });
    expectEqual(await c.getByText('Written when it goes out.').count(), 0, '"written when it goes out" left');
    expectEqual(await c.locator('.due-line').count(), 0, 'a due time on a sent message');
    const subject = (await c.locator('.subject-text').textContent()) || '';
    expectTrue(subject.length > 0 && subject !== '(no subject)', 'the subject is written: ' + subject);
    console.log('# sent subject: ' + JSON.stringify(subject));
    expectTrue(await c.getByText(plan.user + ' (support page) sent this message at once').isVisible(),
               'who sent it now');
    expectEqual(await c.getByRole('button', { name: /^Send now/ }).count(), 0, 'Send now left');
    const next = await page.locator('.order-head .next-contact').count();
    expectEqual(next, 0, 'a next contact after the only planned message went');
    expectTrue(((await c.locator('.content').textContent()) || '').includes(order.id), 'the text names the order');
  });

  await check('an SMS held for quiet hours: written, with when it goes and why', async () => {
    const quiet = plan.quiet;
    await search(page, quiet.id);
    await orderHeading(page, quiet.id).waitFor();
    const c = card(page, quiet.message);
    await c.waitFor();
    expectEqual(await badgeText(c), 'Scheduled', 'the headline');
    expectEqual(sameTime((await c.locator('.due-line').textContent()).trim()), 'Goes out ' + quiet.due_local,
                'when it goes out');
    expectEqual(await whyText(c), 'Why: ' + quiet.note, 'why it waits');
    expectEqual(await c.locator('.text').textContent(), quiet.text, 'the SMS as it is written');
    expectEqual(await c.getByText('Written when it goes out.').count(), 0, '"Written when it goes out." on a written SMS');
    expectEqual(JSON.stringify(await buttonsOf(c)), JSON.stringify(['Send now', 'Cancel']), 'actions');
    const next = sameTime((await page.locator('.order-head .next-contact').textContent()).trim());
    expectTrue(next.startsWith('Waiting for quiet hours to end, goes out ' + quiet.due_local),
               'the next contact: ' + JSON.stringify(next));
    await page.screenshot({ path: path.join(plan.out_dir, 'time-quiet-1280.png'), fullPage: true });
  });

  await check('nothing went wrong in the browser (no script error, CSP refusal or alert)', async () => {
    expectEqual(problems.join('\n'), '', 'problems');
  });
  await context.close();
}

// ---- what the provider reported after the send: the receipt timeline
// (plan.mode "receipts", issue 17) -------------------------------------------

async function receiptSteps(c) {
  return (await c.locator('.receipts li').allTextContents()).map((s) => s.replace(/\s+/g, ' ').trim());
}

async function receiptsWalk(browser, problems) {
  const order = plan.order;
  const ids = order.messages;
  const credentials = { username: plan.user, password: plan.password };
  const open = async (locale, label) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale,
                                               timezoneId: plan.timezone, httpCredentials: credentials });
    context.setDefaultTimeout(WAIT);
    const page = await context.newPage();
    shown = page;
    watch(page, label, problems);
    await page.goto(plan.base_url + '/');
    await search(page, order.id);
    await orderHeading(page, order.id).waitFor();
    return { context, page };
  };

  const en = await open('en-GB', 'receipts-en');
  await check('a delivered SMS: accepted by the provider, on its way, delivered to the phone', async () => {
    const c = card(en.page, ids.delivered);
    await c.waitFor();
    expectEqual(await badgeText(c), 'Delivered to the phone', 'the headline');
    const steps = await receiptSteps(c);
    expectEqual(steps.length, 3, 'three steps: ' + JSON.stringify(steps));
    expectTrue(steps[0].startsWith('Accepted by sms'), 'first, the provider took it: ' + steps[0]);
    expectTrue(steps[1].startsWith('On its way (sent)'), 'then on its way: ' + steps[1]);
    expectTrue(steps[2].startsWith('Delivered to the phone') && /10:02:14/.test(steps[2]),
               'then delivered, at the provider\'s time in Stockholm: ' + steps[2]);
    await en.page.screenshot({ path: path.join(plan.out_dir, 'receipts-en-1280.png'), fullPage: true });
  });

  await check('an undelivered SMS says so with the provider\'s word, and its fallback went', async () => {
    const c = card(en.page, ids.undelivered);
    expectEqual(await badgeText(c), 'Not delivered to the phone', 'the headline');
    const steps = await receiptSteps(c);
    expectTrue(steps[0].startsWith('Accepted by sms'), 'the provider took it: ' + JSON.stringify(steps));
    const last = steps[steps.length - 1];
    expectTrue(last.startsWith('Not delivered') && last.includes('failed'),
               'then not delivered, with the provider\'s word: ' + last);
    expectEqual(await badgeText(card(en.page, ids.fallback)), 'Sent to the provider', 'the fallback e-mail');
  });
  await check('Svenska: the same timeline in Swedish', async () => {
    await en.page.getByRole('button', { name: 'Svenska' }).click();
    const c = card(en.page, ids.delivered);
    // The page draws itself again in Swedish.
    await c.locator('.badge.state', { hasText: 'Levererat' }).waitFor();
    expectEqual(await badgeText(c), 'Levererat till telefonen', 'the headline');
    const steps = await receiptSteps(c);
    expectTrue(steps[0].startsWith('Mottaget av sms'), 'the provider took it: ' + steps[0]);
    expectEqual(await badgeText(card(en.page, ids.undelivered)), 'Inte levererat till telefonen',
                'the undelivered headline');
  });
  await en.context.close();

  await check('nothing went wrong in the browser (no script error, CSP refusal or alert)', async () => {
    expectEqual(problems.join('\n'), '', 'problems');
  });
}

async function main() {
  // Chromium's sandbox cannot start as root (CI); /dev/shm may be small in a container.
  const args = ['--disable-dev-shm-usage'];
  if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
  const browser = await chromium.launch({
    executablePath: plan.chromium || '/usr/bin/chromium',
    headless: true,
    args,
  });
  const problems = [];
  if (plan.mode === 'walk') {
    await walk(browser, problems);
    await browser.close();
    return;
  }
  if (plan.mode === 'time') {
    await timeWalk(browser, problems);
    await browser.close();
    return;
  }
  if (plan.mode === 'receipts') {
    await receiptsWalk(browser, problems);
    await browser.close();
    return;
  }
  const credentials = { username: plan.user, password: plan.password };
  const desktop = await browser.newContext({ viewport: { width: 1280, height: 900 },
                                             timezoneId: plan.timezone, httpCredentials: credentials });
  desktop.setDefaultTimeout(WAIT);
  const page = await desktop.newPage();
  shown = page;
  const desktopAllowed = [];
  watch(page, 'desktop', problems, desktopAllowed);
  const order = plan.order;

  await check('the page needs a login and answers 401 without one', async () => {
    const anonymous = await browser.newContext();
    const response = await anonymous.request.get(plan.base_url + '/');
    expectEqual(response.status(), 401, 'status of / without credentials');
    expectTrue(/^Basic /i.test(response.headers()['www-authenticate'] || ''),
               'WWW-Authenticate asks for Basic: ' + response.headers()['www-authenticate']);
    await anonymous.close();
  });

  await check('logged in, the page loads under its Content-Security-Policy', async () => {
    const response = await page.goto(plan.base_url + '/');
    expectEqual(response.status(), 200, 'status of /');
    expectEqual(response.headers()['content-security-policy'],
                "default-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
                'CSP header');
    await page.getByRole('button', { name: 'Search' }).waitFor();
    // The search box has the focus: type and press Enter.
    expectEqual(await page.evaluate(() => document.activeElement.id), 'q', 'focused element');
  });

  await check(`search ${order.id}: the timeline shows the exact SMS text, its state and the provider's answer`, async () => {
    await search(page, order.id);
    await orderHeading(page, order.id).waitFor();
    const sms = card(page, order.dead_message_id);
    await sms.waitFor();
    expectEqual(await sms.locator('.text').textContent(), order.sms_text, 'SMS text');
    expectEqual(await sms.locator('.address').textContent(), order.phone, 'recipient in full');
    expectEqual((await sms.locator('.badge.state').textContent()).trim(), order.dead_label, 'state badge');
    expectTrue(await sms.locator('.badge.state.tone-bad').isVisible(), 'dead is shown in red');
    const answers = await sms.locator('.attempt .answer').allTextContents();
    expectTrue(answers.includes(order.dead_answer),
               `the provider's answer ${JSON.stringify(order.dead_answer)} among ${JSON.stringify(answers)}`);
    expectTrue(await sms.getByText('via ' + order.sms_gateway).first().isVisible(), 'the gateway name');
    expectTrue(await sms.getByRole('button', { name: /^Retry/ }).isVisible(), 'a Retry button');

    const mail = card(page, order.email_message_id);
    expectEqual(await mail.locator('.subject-text').textContent(), order.email_subject, 'e-mail subject');
    expectEqual(await mail.locator('.text').textContent(), order.email_text, 'e-mail text');
    // Sent is not delivered: the headline says what is known, in a
    // neutral colour (green is for a delivery receipt).
    expectEqual((await mail.locator('.badge.state').textContent()).trim(), 'Sent to the provider', 'e-mail state');
    expectTrue(await mail.locator('.badge.state.tone-neutral').isVisible(), 'sent is shown in the neutral colour');
    expectEqual(await mail.locator('.tone-good').count(), 0, 'green on a sent e-mail without a receipt');
    expectTrue(await mail.getByText(/^No delivery receipt yet/).isVisible(), 'no receipt yet');
    // The HTML part opens in a sandboxed frame, never in the page itself.
    await mail.getByText('Show the HTML version').click();
    const frame = mail.locator('iframe');
    await frame.waitFor();
    expectEqual(await frame.getAttribute('sandbox'), '', 'iframe sandbox attribute');
    expectTrue((await frame.getAttribute('srcdoc') || '').includes(order.id), 'the HTML in srcdoc');
    await mail.frameLocator('iframe').getByText(order.id).first().waitFor();
    // Only web and mailto: URLs are links there; the tracking URL is in the
    // text part too.
    const hrefs = await mail.frameLocator('iframe').locator('[href]')
      .evaluateAll((nodes) => nodes.map((node) => node.getAttribute('href')));
    expectTrue(hrefs.includes(order.shop_url), `the shop's https link among ${JSON.stringify(hrefs)}`);
    expectTrue(hrefs.every((href) => /^(https?|mailto):/.test(href)),
               `only http(s) and mailto: links in the e-mail: ${JSON.stringify(hrefs)}`);
    await mail.frameLocator('iframe').getByText(order.tracking_words).waitFor();
    expectTrue(order.email_text.includes(order.tracking_url), 'the tracking URL in the text part');
    await mail.screenshot({ path: path.join(plan.out_dir, 'email-1280.png') });

    const shipped = page.locator('.event', { has: page.getByRole('heading', { name: 'Shipped' }) });
    // One of its messages failed: the event's badge says so, in red.
    expectEqual((await shipped.locator('.badge.verdict').textContent()).trim(), '2 messages: 1 failed',
                'the shipped event\'s badge');
    expectTrue(await shipped.locator('.badge.verdict.tone-bad').isVisible(), 'the event badge is red');
    // Times in the shop's time zone (the browser is elsewhere), with the zone.
    const happened = shipped.locator('.event-meta time').first();
    expectEqual(await happened.textContent(), order.happened_local, 'when the order shipped');
    const title = await happened.getAttribute('title');
    expectTrue(/^(.+ ago|in .+|just now) \(/.test(title), 'relative time in the title: ' + title);
    expectTrue(await page.getByText('Order status:').isVisible(), 'the order status');
    // The customer's name, from the event, in the order's head.
    expectEqual(await page.locator('.order-head .customer').textContent(), order.customer_name, 'customer name');
  });

  await check('search "' + plan.phone_query + '": the orders to that phone, and one click opens the order', async () => {
    await search(page, plan.phone_query);
    await page.getByRole('heading', { name: /^Messages to/ }).waitFor();
    expectEqual(await page.locator('.recipient-address').textContent(), order.phone, 'normalised number');
    const links = await page.locator('.order-link').allTextContents();
    expectTrue(links.includes(`Order ${order.id}`), `Order ${order.id} among ${JSON.stringify(links)}`);
    expectTrue(links.includes(`Order ${plan.xss.order_id}`), `Order ${plan.xss.order_id} too`);
    // Newest first: the XSS order's event came after the other one.
    expectEqual(links[0], `Order ${plan.xss.order_id}`, 'newest order first');
    // The e-mails of the same orders are listed beside the SMS.
    const orderCard = page.locator('.order-card', { has: page.getByRole('link', { name: `Order ${order.id}`, exact: true }) });
    const addresses = await orderCard.locator('.order-card-message .address').allTextContents();
    expectTrue(addresses.includes(order.email), `the e-mail to ${order.email} among ${JSON.stringify(addresses)}`);
    expectEqual(await orderCard.locator('.customer').textContent(), order.customer_name, 'name on the card');
    await page.screenshot({ path: path.join(plan.out_dir, 'orders-1280.png'), fullPage: true });
    await page.getByRole('link', { name: `Order ${order.id}`, exact: true }).click();
    await orderHeading(page, order.id).waitFor();
    expectTrue(page.url().endsWith('#order=' + encodeURIComponent(order.id)), 'address ' + page.url());
    await card(page, order.dead_message_id).waitFor();
    // The HTML e-mail, still unfolded from before, has rendered.
    await card(page, order.email_message_id).frameLocator('iframe').getByText(order.id).first().waitFor();
    await page.screenshot({ path: path.join(plan.out_dir, 'order-1280.png'), fullPage: true });
    // Back returns to the list.
    await page.goBack();
    await page.getByRole('heading', { name: /^Messages to/ }).waitFor();
  });

  await check('a customer name with markup is shown as text, never run', async () => {
    await search(page, plan.xss.order_id);
    await orderHeading(page, plan.xss.order_id).waitFor();
    const texts = await page.locator('.message .text').allTextContents();
    expectTrue(texts.some((t) => t.includes(plan.xss.payload)),
               `the payload as text in ${JSON.stringify(texts)}`);
    expectEqual(await page.locator('img').count(), 0, 'img elements on the page');
    // The provider's answer of order 1042 carried markup too.
    await search(page, order.id);
    await card(page, order.dead_message_id).waitFor();
    expectEqual(await page.locator('img, b').count(), 0, 'elements made from the provider answer');
  });

  // A second browser window with the order open, made stale by the retry
  // below: its Retry must show tackd's 409 answer.
  const stale = await desktop.newPage();
  watch(stale, 'stale', problems, [/status of 409/]);
  await stale.goto(plan.base_url + '/#order=' + encodeURIComponent(order.id));
  await card(stale, order.dead_message_id).getByRole('button', { name: /^Retry/ }).waitFor();

  await check('Retry asks first; going back changes nothing', async () => {
    await search(page, order.id);
    const sms = card(page, order.dead_message_id);
    await sms.getByRole('button', { name: /^Retry/ }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    expectEqual(await dialog.getByRole('heading').textContent(), 'Send this SMS again?', 'dialog title');
    expectTrue((await dialog.textContent()).includes(order.phone), 'the dialog names the recipient');
    await page.screenshot({ path: path.join(plan.out_dir, 'confirm-1280.png') });
    // The safe choice has the focus; Escape closes like "Go back".
    expectEqual(await page.evaluate(() => document.activeElement.id), 'confirm-no', 'focused button');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    expectEqual(await page.evaluate(() => document.activeElement.id), `retry-${order.dead_message_id}`,
                'focus back on the Retry button');
    expectEqual((await sms.locator('.badge.state').textContent()).trim(), order.dead_label,
                'state after going back');
  });

  await check('a form on another site cannot make tackd act for the signed-in person (CSRF)', async () => {
    // A page on another origin (127.0.0.2) that posts a text/plain form to
    // the retry verb as soon as it loads, in the browser that holds anna's
    // credentials for tackd.
    const target = plan.base_url + '/v1/messages/' + order.dead_message_id + '/retry';
    const evil = await desktop.newPage();
    const answered = evil.waitForResponse((r) => r.url() === target && r.status() !== 401);
    await evil.goto(plan.csrf_page_url);
    const response = await answered;
    expectEqual((await response.request().allHeaders())['sec-fetch-site'], 'cross-site', 'what Chromium said');
    expectEqual(response.status(), 403, 'tackd\'s answer to the cross-site form');
    await evil.close();
    // The dead SMS was not retried: its state, asked from tack's own page.
    const state = await page.evaluate(async (id) => {
      const r = await fetch('/v1/messages/' + id, { headers: { Accept: 'application/json' } });
      return (await r.json()).state;
    }, order.dead_message_id);
    expectEqual(state, 'dead', 'the SMS after the cross-site form');
  });

  await check('Retry through the dialog: the dead SMS becomes sent', async () => {
    const sms = card(page, order.dead_message_id);
    await sms.getByRole('button', { name: /^Retry/ }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Retry' }).click();
    await dialog.waitFor({ state: 'hidden' });
    // The page refreshes itself while the message is on its way.
    await sms.locator('.badge.state', { hasText: 'Sent to the provider' }).waitFor({ timeout: WAIT });
    expectTrue(await sms.locator('.badge.state.tone-neutral').isVisible(), 'sent is shown in the neutral colour');
    expectEqual(await sms.locator('.badge.state.tone-good').count(), 0, 'green before a delivery receipt');
    expectTrue(await sms.getByText(/No delivery receipt yet/).isVisible(), 'no receipt yet');
    const outcomes = await sms.locator('.attempt .outcome').allTextContents();
    expectEqual(outcomes[outcomes.length - 1], 'Accepted', 'the last attempt');
    expectTrue(await sms.getByText(plan.user + ' (support page)').isVisible(), 'who retried it');
    expectEqual(await sms.getByRole('button', { name: /^Retry/ }).count(), 0, 'Retry buttons left');
  });

  await check('the stale window shows tackd\'s refusal (409) in the dialog', async () => {
    const sms = card(stale, order.dead_message_id);
    await sms.getByRole('button', { name: /^Retry/ }).click();
    const dialog = stale.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Retry' }).click();
    const alert = dialog.getByRole('alert');
    await alert.waitFor();
    const text = (await alert.textContent()).trim();
    console.log('# 409 text: ' + JSON.stringify(text));
    expectTrue(text.length > 0 && !text.startsWith('It did not work'), 'the API\'s own error text: ' + text);
    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await sms.locator('.badge.state', { hasText: 'Sent to the provider' }).waitFor();
  });

  await check('a http://user:password@host/ address opens the page and the order', async () => {
    // No stored credentials: only those in the address.
    const bare = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    bare.setDefaultTimeout(WAIT);
    const withCredentials = await bare.newPage();
    watch(withCredentials, 'user:pass@', problems);
    const url = new URL(plan.base_url);
    url.username = encodeURIComponent(plan.user);
    url.password = encodeURIComponent(plan.password);
    await withCredentials.goto(url.href + '#order=' + encodeURIComponent(order.id));
    await orderHeading(withCredentials, order.id).waitFor();
    await card(withCredentials, order.dead_message_id).waitFor();
    expectEqual(await withCredentials.getByText(/cannot be reached/).count(), 0, '"cannot be reached" on the page');
    await bare.close();
  });

  await check('a phone-width screen (375 px) scrolls only vertically', async () => {
    const phone = await browser.newContext({ viewport: { width: 375, height: 740 }, isMobile: true,
                                             hasTouch: true, httpCredentials: credentials });
    phone.setDefaultTimeout(WAIT);
    const small = await phone.newPage();
    watch(small, 'phone', problems);
    await small.goto(plan.base_url + '/');
    await search(small, order.id);
    await card(small, order.dead_message_id).waitFor();
    let size = await noHorizontalOverflow(small);
    expectTrue(size.scroll <= size.client, `order view: scrollWidth ${size.scroll} > clientWidth ${size.client}`);
    await small.screenshot({ path: path.join(plan.out_dir, 'order-375.png'), fullPage: true });
    await search(small, plan.phone_query);
    await small.getByRole('heading', { name: /^Messages to/ }).waitFor();
    size = await noHorizontalOverflow(small);
    expectTrue(size.scroll <= size.client, `orders view: scrollWidth ${size.scroll} > clientWidth ${size.client}`);
    await small.screenshot({ path: path.join(plan.out_dir, 'orders-375.png'), fullPage: true });
    await phone.close();
  });

  // Last, as it ends anna's session: tackd reloads its config with a new
  // password for her (the Python side does that when asked on stdout).
  await check('a password changed meanwhile: the page says to log in again', async () => {
    // Still on the order from the retry, with no request under way.
    await orderHeading(page, order.id).waitFor();
    await page.locator('#results:not([aria-busy])').waitFor();
    desktopAllowed.push(/status of 401/);
    console.log('# waiting for the new password');
    await waitForFile(plan.reload_flag, 2 * WAIT);
    await page.getByRole('button', { name: 'Refresh' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    const text = (await alert.textContent()).trim();
    expectEqual(text, 'Wrong user name or password. Reload the page to sign in again.', 'the 401 message');
  });

  await check('nothing went wrong in the browser (no script error, CSP refusal or alert)', async () => {
    expectEqual(problems.join('\n'), '', 'problems');
  });

  await browser.close();
}

main()
  .catch((err) => {
    failed += 1;
    console.log('not ok - the test itself: ' + (err && err.stack || err));
  })
  .finally(() => {
    console.log(`${passed} passed, ${failed} failed`);
    process.exitCode = failed ? 1 : 0;
  });

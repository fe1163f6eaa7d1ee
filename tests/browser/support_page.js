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
    expectEqual((await sms.locator('.badge.state').textContent()).trim(),
                '✕' + order.dead_label, 'state badge');
    expectTrue(await sms.locator('.badge.state.tone-bad').isVisible(), 'dead is shown in red');
    const answers = await sms.locator('.attempt .answer').allTextContents();
    expectTrue(answers.includes(order.dead_answer),
               `the provider's answer ${JSON.stringify(order.dead_answer)} among ${JSON.stringify(answers)}`);
    expectTrue(await sms.getByText('via ' + order.sms_gateway).first().isVisible(), 'the gateway name');
    expectTrue(await sms.getByRole('button', { name: /^Retry/ }).isVisible(), 'a Retry button');

    const mail = card(page, order.email_message_id);
    expectEqual(await mail.locator('.subject-text').textContent(), order.email_subject, 'e-mail subject');
    expectEqual(await mail.locator('.text').textContent(), order.email_text, 'e-mail text');
    expectEqual((await mail.locator('.badge.state').textContent()).trim(),
                '✓Delivered to the e-mail server', 'e-mail state');
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
    expectTrue(await shipped.getByText('2 messages').isVisible(), 'the shipped event with its messages');
    // Times in the browser's time zone, the relative time beside it.
    const happened = shipped.locator('.event-meta time').first();
    expectEqual(await happened.textContent(), order.happened_local, 'when the order shipped');
    const title = await happened.getAttribute('title');
    expectTrue(/^(.+ ago|in .+|just now) \(/.test(title), 'relative time in the title: ' + title);
    expectTrue(await page.getByText('Order status:').isVisible(), 'the order status');
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
    expectEqual((await sms.locator('.badge.state').textContent()).trim(), '✕' + order.dead_label,
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
    await sms.locator('.badge.state', { hasText: 'Delivered to the SMS provider' }).waitFor({ timeout: WAIT });
    expectTrue(await sms.locator('.badge.state.tone-good').isVisible(), 'sent is shown in green');
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
    await sms.locator('.badge.state', { hasText: 'Delivered to the SMS provider' }).waitFor();
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
    expectTrue(text.startsWith('You are not logged in'), 'the 401 message: ' + text);
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

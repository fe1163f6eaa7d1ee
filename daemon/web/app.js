// tack's support page: one search box (order number, phone or e-mail), an
// order's timeline, and the operator verbs. Served by tackd at / together
// with app.css; talks to the support API of docs/http-api.md with the
// HTTP Basic credentials the browser already holds for this origin.
//
// Everything from the API is untrusted text (message bodies, the
// provider's answers, customer names): it reaches the page only through
// textContent, attributes and the sandboxed iframe's srcdoc, never as HTML.
// No inline script or style, so the page runs under
// Content-Security-Policy: default-src 'self'.
'use strict';

(function () {
  // ---- small DOM helpers ---------------------------------------------------

  // el('p', {class: 'x', text: 'y', title: 'z'}, child, ...): children are
  // nodes or strings (as text); null/false children are skipped.
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'text') node.textContent = value;
      else if (key === 'hidden') node.hidden = true;
      else if (key === 'on') {
        for (const [type, handler] of Object.entries(value)) node.addEventListener(type, handler);
      } else node.setAttribute(key, value === true ? '' : String(value));
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(typeof child === 'string' ? document.createTextNode(child) : child);
    }
    return node;
  }

  const SVG_NS = 'http://www.w3.org/2000/svg';
  const ICON_PATHS = {
    sms: 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z',
    email: 'M3 5h18a1 1 0 0 1 1 1v12a1 1 0 0 1-1 1H3a1 1 0 0 1-1-1V6a1 1 0 0 1 1-1zm0 1.5 9 6.5 9-6.5',
  };

  function icon(name) {
    const svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('class', 'icon');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    const path = document.createElementNS(SVG_NS, 'path');
    path.setAttribute('d', ICON_PATHS[name] || ICON_PATHS.sms);
    svg.append(path);
    return svg;
  }

  // ---- words and times -----------------------------------------------------

  function plural(n, one, many) {
    return n + ' ' + (n === 1 ? one : many || one + 's');
  }

  // "out_for_delivery" -> "Out for delivery"
  function humanize(word) {
    const s = String(word || '').replace(/[_-]+/g, ' ').trim();
    return s ? s.charAt(0).toUpperCase() + s.slice(1) : '';
  }

  const dateFormat = new Intl.DateTimeFormat('en-GB', {
    day: 'numeric', month: 'short', year: 'numeric',
    hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
  });
  const relativeFormat = new Intl.RelativeTimeFormat('en', {numeric: 'auto'});

  function parseTime(iso) {
    if (typeof iso !== 'string' || iso === '') return null;
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? null : date;
  }

  // "3 minutes ago", "in 2 hours"
  function relativeTime(date) {
    const seconds = Math.round((date.getTime() - Date.now()) / 1000);
    const abs = Math.abs(seconds);
    if (abs < 45) return seconds <= 0 ? 'just now' : 'in a few seconds';
    const steps = [[3600, 60, 'minute'], [86400, 3600, 'hour'], [86400 * 30, 86400, 'day'],
                   [86400 * 365, 86400 * 30, 'month']];
    for (const [limit, unit, name] of steps) {
      if (abs < limit) return relativeFormat.format(Math.round(seconds / unit), name);
    }
    return relativeFormat.format(Math.round(seconds / (86400 * 365)), 'year');
  }

  // <time> in the browser's local time; the relative time as its title, or
  // also as secondary text after it (showRelative).
  function timeNode(iso, showRelative) {
    const date = parseTime(iso);
    if (!date) return el('span', {class: 'time unknown', text: iso ? String(iso) : 'unknown time'});
    const rel = relativeTime(date);
    const node = el('time', {datetime: iso, title: rel + ' (' + iso + ')', text: dateFormat.format(date)});
    if (!showRelative) return node;
    return el('span', {class: 'time'}, node, el('span', {class: 'relative', text: ' (' + rel + ')'}));
  }

  // ---- what a message's state means, in support's words ----------------------

  function channelWord(m) {
    return m.kind === 'email' ? 'e-mail' : 'SMS';
  }

  function receiverWord(m) {
    return m.kind === 'email' ? 'the e-mail server' : 'the SMS provider';
  }

  // last_error of a dead message: "gave up after 8 attempts: HTTP 503: ..."
  function gaveUpAfter(m) {
    const match = /after (\d+) attempts?/.exec(m.last_error || '');
    if (match) return Number(match[1]);
    return Array.isArray(m.attempt_log) && m.attempt_log.length ? m.attempt_log.length : m.attempts;
  }

  // The provider's words inside last_error, without tack's own prefix.
  function lastAnswer(m) {
    let text = String(m.last_error || '');
    text = text.replace(/^gave up(: older than max_age)? after \d+ attempts?: /, '');
    text = text.replace(/^expired unsent: .*?\(last error: (.*)\)$/s, '$1');
    return text;
  }

  // tone: good (green), wait (amber), bad (red), off (grey). The symbol and
  // the words carry the meaning too, for anyone who cannot tell the colours.
  function stateInfo(m) {
    const receiver = receiverWord(m);
    switch (m.state) {
      case 'sent':
        return {tone: 'good', symbol: '✓', label: 'Delivered to ' + receiver};
      case 'delivered':
        return {tone: 'good', symbol: '✓', label: 'Delivered to the customer',
                note: 'The provider confirmed the delivery.'};
      case 'queued':
        return {tone: 'wait', symbol: '…', label: 'Waiting to be sent'};
      case 'sending':
        return {tone: 'wait', symbol: '…', label: 'Being sent right now'};
      case 'scheduled':
        return {tone: 'wait', symbol: '◷', label: 'Scheduled', due: true};
      case 'retry_wait':
        return {tone: 'wait', symbol: '↻', label: 'Not through yet, will try again', due: true,
                problem: true};
      case 'held':
        return {tone: 'wait', symbol: '⏸', label: 'On hold',
                note: 'Paused by staff: it is not sent until someone releases it.'};
      case 'failed':
        return {tone: 'bad', symbol: '✕', label: 'Refused by ' + receiver, problem: true};
      case 'dead':
        return {tone: 'bad', symbol: '✕', label: 'Gave up after ' + plural(gaveUpAfter(m), 'attempt'),
                problem: true};
      case 'expired':
        return {tone: 'bad', symbol: '✕', label: 'Expired: not sent in time',
                note: 'It would have arrived too late to be useful, so it was never sent.',
                problem: true};
      case 'cancelled':
        return {tone: 'off', symbol: '–', label: 'Cancelled', note: 'It will not be sent.'};
      case 'superseded':
        return {tone: 'off', symbol: '–', label: 'Not sent: a newer update replaced it'};
      case 'suppressed':
        return {tone: 'off', symbol: '–', label: 'Not sent: the customer opted out'};
      default:
        return {tone: 'off', symbol: '?', label: humanize(m.state) || 'Unknown state'};
    }
  }

  function outcomeInfo(outcome) {
    switch (outcome) {
      case 'sent': return {tone: 'good', label: 'Accepted'};
      case 'retry': return {tone: 'wait', label: 'Temporary problem'};
      case 'rejected': return {tone: 'bad', label: 'Refused'};
      case 'unknown': return {tone: 'wait', label: 'Unknown: tack stopped while sending'};
      case 'interrupted': return {tone: 'wait', label: 'Interrupted'};
      default: return {tone: 'off', label: humanize(outcome) || 'Unknown'};
    }
  }

  function verdictInfo(e, messageCount) {
    switch (e.verdict) {
      case 'accepted': {
        return {tone: 'good', label: messageCount ? plural(messageCount, 'message')
                                                   : 'No message for this status'};
      }
      case 'duplicate':
        return {tone: 'off', label: 'Duplicate: already received, nothing new sent'};
      case 'stale':
        return {tone: 'off', label: 'Out of date: the order had already moved on, nothing sent'};
      case 'rejected':
        return {tone: 'bad', label: 'Rejected: ' + (e.reason || 'no reason given')};
      default:
        return {tone: 'off', label: humanize(e.verdict)};
    }
  }

  function badge(tone, symbol, label, extraClass) {
    return el('span', {class: 'badge tone-' + tone + (extraClass ? ' ' + extraClass : '')},
              el('span', {class: 'badge-symbol', 'aria-hidden': 'true', text: symbol}),
              el('span', {class: 'badge-label', text: label}));
  }

  // ---- the API -----------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  const NOT_LOGGED_IN = 'You are not logged in, or tack did not accept your name and password. ' +
                        'Reload the page to log in again.';

  async function api(method, path) {
    let response;
    try {
      response = await fetch(path, {
        method, credentials: 'same-origin', cache: 'no-store',
        // X-Tack-Request: the proof that a verb comes from this page, which
        // a form on another site cannot send (docs/http-api.md).
        headers: {'Accept': 'application/json', 'X-Tack-Request': 'page'},
      });
    } catch (err) {
      throw new ApiError(0, 'tack cannot be reached. Check your connection and try again.');
    }
    const text = await response.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch (err) {
      body = null;
    }
    if (response.status === 401) throw new ApiError(401, NOT_LOGGED_IN);
    if (!response.ok) {
      const said = body && typeof body.error === 'string' && body.error ? body.error : '';
      throw new ApiError(response.status, said || 'tack answered ' + response.status + ' ' +
                         (response.statusText || '') + '.');
    }
    if (body === null || typeof body !== 'object') {
      throw new ApiError(response.status, 'tack sent an answer this page cannot read.');
    }
    return body;
  }

  // ---- what was typed --------------------------------------------------------

  // email: has an @. phone: digits with + ( ) - . / or spaces, 6+ digits.
  // A bare run of digits could be either: try it as an order first.
  function classify(query) {
    if (query.includes('@')) return 'email';
    const digits = query.replace(/\D/g, '').length;
    if (/^[+(]?[\d\s().\/-]+$/.test(query) && digits >= 6) {
      return /^\d+$/.test(query) ? 'order-or-phone' : 'phone';
    }
    return 'order';
  }

  // ---- page state and routing --------------------------------------------------
  // The address bar holds the view (#q=... or #order=...), so Back works and a
  // link can be shared with a colleague.

  const results = document.getElementById('results');
  const statusLine = document.getElementById('status');
  const searchForm = document.getElementById('search');
  const searchInput = document.getElementById('q');

  let navigation = 0;  // each view bumps it; older answers are dropped
  let current = null;  // {kind: 'order', id} or {kind: 'search', query}
  let refreshTimer = null;
  const openDetails = new Set();  // <details> left open across refreshes

  function setStatus(text, tone) {
    statusLine.textContent = text || '';
    statusLine.className = 'status' + (tone ? ' tone-' + tone : '');
  }

  function readHash() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ''));
    if (params.has('order')) return {kind: 'order', id: params.get('order')};
    if (params.has('q')) return {kind: 'search', query: params.get('q')};
    return null;
  }

  function go(params) {
    const hash = '#' + new URLSearchParams(params).toString();
    if (location.hash === hash) route();
    else location.hash = hash;
  }

  function route() {
    const view = readHash();
    clearTimeout(refreshTimer);
    current = view;
    if (!view) {
      results.replaceChildren();
      setStatus('');
      return;
    }
    if (view.kind === 'order') {
      showOrder(view.id, {focus: true});
    } else {
      searchInput.value = view.query;
      runSearch(view.query.trim());
    }
  }

  searchForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const query = searchInput.value.trim();
    if (!query) {
      setStatus('Type an order number, a phone number or an e-mail address.', 'bad');
      searchInput.focus();
      return;
    }
    go({q: query});
  });

  window.addEventListener('hashchange', route);

  function showError(err, what) {
    results.replaceChildren(el('p', {class: 'notice bad', role: 'alert', text: err.message}));
    setStatus(what ? what + ' failed.' : '', 'bad');
  }

  async function runSearch(query) {
    const ticket = ++navigation;
    const kind = classify(query);
    setStatus('Searching…');
    results.setAttribute('aria-busy', 'true');
    try {
      if (kind === 'order' || kind === 'order-or-phone') {
        try {
          const order = await api('GET', '/v1/orders/' + encodeURIComponent(query));
          if (ticket !== navigation) return;
          renderOrder(order, {focus: true});
          return;
        } catch (err) {
          if (err.status !== 404) throw err;
          if (kind === 'order') {
            if (ticket !== navigation) return;
            results.replaceChildren(el('p', {class: 'notice', text:
              'No order “' + query + '” found. Check the number, or search by the customer’s ' +
              'phone number or e-mail address.'}));
            setStatus('No order found.');
            return;
          }
        }
      }
      await searchRecipient(query, kind, ticket);
    } catch (err) {
      if (ticket === navigation) showError(err, 'The search');
    } finally {
      if (ticket === navigation) results.removeAttribute('aria-busy');
    }
  }

  // ---- orders of one recipient ------------------------------------------------------

  async function searchRecipient(query, kind, ticket) {
    const first = await api('GET', '/v1/messages?' + new URLSearchParams({to: query, limit: '200'}));
    if (ticket !== navigation) return;
    const messages = Array.isArray(first.messages) ? first.messages.slice() : [];
    let next = typeof first.next === 'string' ? first.next : null;

    const section = el('section', {class: 'recipient', 'aria-labelledby': 'recipient-title'});
    const render = () => {
      section.replaceChildren(...recipientView(query, kind, messages, next, loadMore));
    };
    const loadMore = async (button) => {
      button.disabled = true;
      button.textContent = 'Loading…';
      try {
        // Only a same-origin API path is followed.
        if (!next.startsWith('/v1/messages?')) throw new ApiError(0, 'tack gave an odd next page.');
        const page = await api('GET', next);
        if (ticket !== navigation) return;
        if (Array.isArray(page.messages)) messages.push(...page.messages);
        next = typeof page.next === 'string' ? page.next : null;
        render();
        setStatus('Loaded older messages.');
      } catch (err) {
        button.disabled = false;
        button.textContent = 'Show older messages';
        setStatus(err.message, 'bad');
      }
    };
    render();
    results.replaceChildren(section);
    const orders = new Set(messages.map((m) => m.order_id)).size;
    setStatus(messages.length ? 'Found ' + plural(orders, 'order') + '.' : 'Nothing found.');
    focusHeading(section);
  }

  function recipientView(query, kind, messages, next, loadMore) {
    const nodes = [];
    const shown = messages.length ? messages[0].to : query;
    nodes.push(el('h2', {id: 'recipient-title', class: 'view-title', tabindex: '-1'},
                  'Messages to ', el('span', {class: 'recipient-address', text: shown})));
    if (!messages.length) {
      const what = kind === 'email' ? 'e-mail address' : kind === 'order-or-phone'
                 ? 'order number or phone number' : 'phone number';
      nodes.push(el('p', {class: 'notice', text:
        'tack has sent nothing to this ' + what + '. Check it for typos; a phone number can be ' +
        'written in any form, such as 070-123 45 67 or +46701234567.'}));
      return nodes;
    }
    // Messages come newest first: the first one of each order is its newest.
    const groups = new Map();
    for (const m of messages) {
      if (!groups.has(m.order_id)) groups.set(m.order_id, []);
      groups.get(m.order_id).push(m);
    }
    nodes.push(el('p', {class: 'view-sub', text:
      plural(groups.size, 'order') + ', newest first. Choose one to see everything tack did.'}));
    const list = el('ol', {class: 'order-list'});
    for (const [orderId, group] of groups) {
      const newest = group[0];
      const items = el('ul', {class: 'order-card-messages'});
      for (const m of group) {
        const info = stateInfo(m);
        items.append(el('li', {},
          el('span', {class: 'channel'}, icon(m.kind), channelWord(m)),
          badge(info.tone, info.symbol, info.label),
          timeNode(m.created_at, false),
          el('span', {class: 'excerpt', text: m.subject || m.text || ''})));
      }
      list.append(el('li', {class: 'order-card'},
        el('h3', {class: 'order-card-title'},
          el('a', {href: '#' + new URLSearchParams({order: orderId}), class: 'order-link'},
             'Order ', el('span', {text: orderId}))),
        el('p', {class: 'order-card-sub'}, plural(group.length, 'message') + ' · latest ',
           timeNode(newest.created_at, true)),
        items));
    }
    nodes.push(list);
    if (next) {
      const more = el('button', {type: 'button', class: 'button', text: 'Show older messages'});
      more.addEventListener('click', () => loadMore(more));
      nodes.push(el('p', {class: 'more'}, more));
    }
    return nodes;
  }

  // ---- one order ---------------------------------------------------------------------

  async function showOrder(id, options) {
    clearTimeout(refreshTimer);
    const ticket = ++navigation;
    if (!options.quiet) setStatus('Loading order ' + id + '…');
    results.setAttribute('aria-busy', 'true');
    try {
      const order = await api('GET', '/v1/orders/' + encodeURIComponent(id));
      if (ticket !== navigation) return;
      renderOrder(order, options);
    } catch (err) {
      if (ticket !== navigation) return;
      if (options.quiet && err.status !== 404 && err.status !== 401) {
        // A failed background refresh keeps what is on screen.
        setStatus('Could not refresh: ' + err.message, 'bad');
        scheduleRefresh(id, 15000);
        return;
      }
      if (err.status === 404) {
        results.replaceChildren(el('p', {class: 'notice', text: 'No order “' + id + '” found.'}));
        setStatus('No order found.');
      } else {
        showError(err, 'Loading the order');
      }
    } finally {
      if (ticket === navigation) results.removeAttribute('aria-busy');
    }
  }

  function renderOrder(order, options) {
    const focusedId = document.activeElement && results.contains(document.activeElement)
      ? document.activeElement.id : '';
    const scrollY = window.scrollY;
    const view = orderView(order);
    results.replaceChildren(view);
    if (options.focus) {
      focusHeading(view);
    } else {
      // A refresh keeps the reader where they were.
      const again = (focusedId && document.getElementById(focusedId)) ||
                    (options.focusId && document.getElementById(options.focusId));
      if (again) again.focus({preventScroll: true});
      window.scrollTo(0, scrollY);
    }
    if (!options.quiet) setStatus('Showing order ' + order.order_id + '.');
    scheduleRefresh(order.order_id, refreshDelay(order));
  }

  function focusHeading(container) {
    const heading = container.querySelector('.view-title');
    if (heading) heading.focus({preventScroll: false});
  }

  // While something is about to change (queued, being sent, a retry due
  // soon), the view refreshes itself; otherwise every minute.
  function refreshDelay(order) {
    const soon = Date.now() + 120000;
    for (const m of order.messages || []) {
      if (m.state === 'queued' || m.state === 'sending') return 2000;
      const due = parseTime(m.next_attempt_at);
      if ((m.state === 'retry_wait' || m.state === 'scheduled') && due && due.getTime() < soon) {
        return Math.max(2000, Math.min(due.getTime() - Date.now() + 1000, 30000));
      }
    }
    return 60000;
  }

  function scheduleRefresh(orderId, delay) {
    clearTimeout(refreshTimer);
    const ticket = navigation;
    refreshTimer = setTimeout(() => {
      if (ticket !== navigation || !current) return;
      // Never pull the page from under an open dialog or a text selection
      // (someone copying a message).
      const selection = window.getSelection();
      if (dialog.open || (selection && !selection.isCollapsed && results.contains(selection.anchorNode))) {
        scheduleRefresh(orderId, 2000);
        return;
      }
      showOrder(orderId, {quiet: true});
    }, delay);
  }

  function orderView(order) {
    const messages = Array.isArray(order.messages) ? order.messages : [];
    // Oldest first, as they reached tack.
    const events = (Array.isArray(order.events) ? order.events.slice() : []).sort((a, b) =>
      String(a.received_at || '').localeCompare(String(b.received_at || '')));
    const audit = Array.isArray(order.audit) ? order.audit : [];
    const byEvent = new Map();
    for (const m of messages) {
      if (!byEvent.has(m.event_id)) byEvent.set(m.event_id, []);
      byEvent.get(m.event_id).push(m);
    }
    const auditByMessage = new Map();
    for (const a of audit) {
      const match = /^message (\d+)$/.exec(a.target || '');
      if (!match) continue;
      if (!auditByMessage.has(match[1])) auditByMessage.set(match[1], []);
      auditByMessage.get(match[1]).push(a);
    }
    const next = order.next_contact && typeof order.next_contact === 'object' ? order.next_contact : null;
    const nextId = next ? next.message_id : null;

    const head = el('header', {class: 'order-head'},
      el('h2', {class: 'view-title', id: 'order-title', tabindex: '-1'},
        'Order ', el('span', {class: 'order-id', text: order.order_id})),
      el('p', {class: 'order-status'}, 'Order status: ',
        el('strong', {text: humanize(order.status) || 'unknown'})),
      nextContactLine(next, messages),
      el('p', {class: 'order-tools'},
        el('button', {type: 'button', class: 'button small', id: 'refresh', text: 'Refresh',
                      on: {click: () => showOrder(order.order_id, {quiet: false})}}),
        el('span', {class: 'updated'}, 'Updated ', timeNode(new Date().toISOString(), false))));

    const timeline = el('ol', {class: 'timeline', 'aria-label': 'Events and their messages'});
    const shownEvents = new Set();
    for (const e of events) {
      shownEvents.add(e.event_id);
      timeline.append(eventItem(e, byEvent.get(e.event_id) || [], auditByMessage, nextId));
    }
    // Messages whose event is not listed (should not happen) are shown anyway.
    const orphans = messages.filter((m) => !shownEvents.has(m.event_id));
    if (orphans.length) {
      timeline.append(el('li', {class: 'event'},
        el('div', {class: 'event-head'}, el('h3', {class: 'event-title', text: 'Other messages'})),
        messageList(orphans, auditByMessage, nextId)));
    }
    if (!events.length && !messages.length) {
      timeline.append(el('li', {class: 'event'}, el('p', {text: 'tack has no events for this order.'})));
    }

    const section = el('section', {class: 'order', 'aria-labelledby': 'order-title'}, head,
      el('h3', {class: 'section-title', text: 'What happened'}), timeline);
    section.append(el('h3', {class: 'section-title', text: 'Changes by staff'}));
    if (audit.length) {
      const list = el('ul', {class: 'audit'});
      for (const a of audit) list.append(el('li', {}, auditLine(a, true)));
      section.append(list);
    } else {
      section.append(el('p', {class: 'muted', text: 'Nobody has retried, cancelled or held anything.'}));
    }
    return section;
  }

  function nextContactLine(next, messages) {
    if (!next) return el('p', {class: 'next-contact muted', text: 'Nothing more is waiting to be sent.'});
    const m = messages.find((x) => x.id === next.message_id);
    const what = m ? channelWord(m) + ' to ' + m.to : 'message ' + next.message_id;
    const due = parseTime(next.due_at);
    const line = el('p', {class: 'next-contact'}, el('span', {class: 'label', text: 'Next message due: '}),
                    el('a', {href: '#msg-' + next.message_id, class: 'next-link', text: what,
                             on: {click: jumpToMessage}}), ' ');
    if (due && due.getTime() <= Date.now()) line.append('now (due since ', timeNode(next.due_at, false), ')');
    else line.append('at ', timeNode(next.due_at, true));
    return line;
  }

  // Scrolls to a message card without touching the address bar's #order=...
  function jumpToMessage(event) {
    const target = document.getElementById(event.currentTarget.getAttribute('href').slice(1));
    if (!target) return;
    event.preventDefault();
    target.scrollIntoView({block: 'start'});
    target.focus({preventScroll: true});
  }

  function eventItem(e, messages, auditByMessage, nextId) {
    const verdict = verdictInfo(e, messages.length);
    const item = el('li', {class: 'event'});
    item.append(el('div', {class: 'event-head'},
      el('h3', {class: 'event-title', text: humanize(e.status)}),
      badge(verdict.tone, verdict.tone === 'bad' ? '✕' : verdict.tone === 'good' ? '•' : '–',
            verdict.label, 'verdict')));
    item.append(el('p', {class: 'event-meta'},
      'Happened ', timeNode(e.occurred_at, true), ' · received by tack ', timeNode(e.received_at, false),
      e.source ? ' from ' + e.source : '', ' · event ', el('code', {text: e.event_id}),
      e.duplicates > 0 ? ' · sent to tack ' + plural(e.duplicates + 1, 'time') + ', the copies ignored'
                       : ''));
    if (messages.length) item.append(messageList(messages, auditByMessage, nextId));
    return item;
  }

  function messageList(messages, auditByMessage, nextId) {
    const list = el('ul', {class: 'messages'});
    for (const m of messages) list.append(messageCard(m, auditByMessage.get(String(m.id)) || [], m.id === nextId));
    return list;
  }

  function messageCard(m, audit, isNext) {
    const info = stateInfo(m);
    const card = el('li', {class: 'message tone-' + info.tone, id: 'msg-' + m.id, tabindex: '-1'});
    card.append(el('div', {class: 'message-head'},
      el('span', {class: 'channel'}, icon(m.kind), el('span', {text: m.kind === 'email' ? 'E-mail' : 'SMS'})),
      el('span', {class: 'recipient-to'}, 'to ', el('span', {class: 'address', text: m.to})),
      badge(info.tone, info.symbol, info.label, 'state')));

    const facts = el('div', {class: 'message-facts'});
    if (info.note) facts.append(el('p', {text: info.note}));
    if (info.due && m.next_attempt_at) {
      facts.append(el('p', {}, m.state === 'scheduled' ? 'To be sent ' : 'Next try ',
                      timeNode(m.next_attempt_at, true), isNext ? ' · the next message due' : ''));
    }
    if (info.problem && lastAnswer(m)) {
      facts.append(el('p', {class: 'last-answer'}, el('span', {class: 'label', text: 'Last answer: '}),
                      el('q', {class: 'answer', text: lastAnswer(m)})));
    }
    append(facts, [receiptLine(m)]);
    append(card, [facts, contentBlock(m), attemptList(m)]);
    for (const a of audit) card.append(el('p', {class: 'message-audit'}, auditLine(a, false)));
    append(card, [actionButtons(m)]);
    card.append(el('p', {class: 'message-meta'},
      'Message ' + m.id + ' · template ' + (m.template || '?') + ' · language ' + (m.locale || '?') +
      ' · rule ' + (m.rule || '?') + ' · created ', timeNode(m.created_at, false),
      m.gateway ? ' · gateway ' + m.gateway : ''));
    return card;
  }

  function receiptLine(m) {
    const receipts = Array.isArray(m.receipts) ? m.receipts : [];
    if (!receipts.length) {
      if (m.state === 'sent') {
        const where = m.kind === 'email' ? 'the inbox' : 'the phone';
        return el('p', {class: 'receipt muted', text: 'No delivery receipt yet: ' + receiverWord(m) +
                        ' has it, but has not confirmed that it reached ' + where + '.'});
      }
      return null;
    }
    const list = el('ul', {class: 'receipts'});
    for (const r of receipts) {
      if (r && typeof r === 'object') {
        const when = r.received_at || r.at || r.delivered_at || null;
        list.append(el('li', {}, el('span', {class: 'label', text: 'Delivery receipt: '}),
          el('strong', {text: humanize(r.status || r.state || 'received')}),
          when ? ' · ' : '', when ? timeNode(when, false) : null,
          r.detail ? el('span', {class: 'answer', text: ' · ' + r.detail}) : null));
      } else {
        list.append(el('li', {text: 'Delivery receipt: ' + String(r)}));
      }
    }
    return list;
  }

  // An e-mail's links: templates put event values such as
  // delivery.tracking_url into href, HTML-escaped but otherwise as the shop
  // sent them. Only web and mailto: URLs stay links; any other href
  // (javascript:, data:, a path into tackd) is dropped, so the link's words
  // are plain text, and the URL itself is in the e-mail's text part above.
  // A literal prefix decides: an entity-encoded scheme is dropped too. The
  // HTML is not parsed here, and this is not what contains it: the
  // sandboxed iframe is (no scripts, no forms, no same origin).
  const HREF = /\b((?:xlink:)?href)\s*=\s*("[^">]*"|'[^'>]*'|[^\s>]+)/gi;
  const LINK_URL = /^\s*(https?|mailto):/i;

  function withWebLinksOnly(html) {
    return html.replace(HREF, (attribute, name, value) => {
      const quoted = value.length >= 2 && (value[0] === '"' || value[0] === "'") &&
                     value[value.length - 1] === value[0];
      return LINK_URL.test(quoted ? value.slice(1, -1) : value) ? attribute : '';
    });
  }

  function contentBlock(m) {
    const block = el('div', {class: 'content'});
    if (m.kind === 'email' || m.subject) {
      block.append(el('p', {class: 'subject'}, el('span', {class: 'label', text: 'Subject: '}),
                      el('span', {class: 'subject-text', text: m.subject || '(no subject)'})));
    }
    block.append(el('div', {class: 'text', text: m.text || ''}));
    if (m.html) {
      const key = 'html-' + m.id;
      const details = el('details', {class: 'html-preview'},
        el('summary', {text: 'Show the HTML version'}));
      // Created only when opened: the untrusted HTML runs in an iframe with
      // every sandbox restriction (no scripts, no same origin, no forms).
      // The page's Content-Security-Policy applies inside too, so the
      // e-mail's inline styles and remote images stay off.
      const show = () => {
        if (!details.open || details.querySelector('iframe')) return;
        const frame = el('iframe', {sandbox: '', title: 'The e-mail’s HTML version', class: 'html-frame',
                                    referrerpolicy: 'no-referrer'});
        details.append(el('p', {class: 'muted small', text:
          'Shown without its styling and images, so it looks plainer than in the customer’s inbox.'}));
        frame.srcdoc = withWebLinksOnly(m.html);
        details.append(frame);
      };
      details.addEventListener('toggle', () => {
        if (details.open) openDetails.add(key); else openDetails.delete(key);
        show();
      });
      if (openDetails.has(key)) {
        details.open = true;
        show();
      }
      block.append(details);
    }
    return block;
  }

  function attemptList(m) {
    const attempts = Array.isArray(m.attempt_log) ? m.attempt_log : [];
    const wrap = el('div', {class: 'attempts'});
    if (!attempts.length) {
      wrap.append(el('p', {class: 'muted', text: 'Not tried yet.'}));
      return wrap;
    }
    wrap.append(el('h4', {class: 'attempts-title', text: plural(attempts.length, 'attempt')}));
    const item = (a) => {
      const outcome = outcomeInfo(a.outcome);
      return el('li', {class: 'attempt'},
        el('div', {class: 'attempt-head'},
          el('span', {class: 'attempt-number', text: '#' + a.number}),
          timeNode(a.started_at, false),
          el('span', {class: 'attempt-gateway', text: 'via ' + a.gateway}),
          el('span', {class: 'outcome tone-' + outcome.tone, text: outcome.label})),
        a.detail ? el('p', {class: 'attempt-answer'}, el('span', {class: 'label', text: 'Answer: '}),
                      el('code', {class: 'answer', text: a.detail})) : null,
        el('p', {class: 'attempt-meta'},
          a.provider_id ? el('span', {}, 'Provider’s id: ', el('code', {text: a.provider_id}), ' · ') : null,
          'took ' + (Number.isFinite(a.duration_ms) ? a.duration_ms + ' ms' : '?')));
    };
    // Many attempts: the last three stay in view, the earlier ones fold away.
    const keep = 3;
    if (attempts.length > keep + 1) {
      const key = 'attempts-' + m.id;
      const earlier = el('details', {class: 'earlier'},
        el('summary', {text: 'Show ' + plural(attempts.length - keep, 'earlier attempt')}),
        el('ol', {class: 'attempt-list'}, attempts.slice(0, -keep).map(item)));
      earlier.open = openDetails.has(key);
      earlier.addEventListener('toggle', () => {
        if (earlier.open) openDetails.add(key); else openDetails.delete(key);
      });
      wrap.append(earlier, el('ol', {class: 'attempt-list'}, attempts.slice(-keep).map(item)));
    } else {
      wrap.append(el('ol', {class: 'attempt-list'}, attempts.map(item)));
    }
    return wrap;
  }

  const AUDIT_WORDS = {retry: 'retried', cancel: 'cancelled', hold: 'put on hold', release: 'released'};
  const WAS = {dead: 'given up', failed: 'refused', retry_wait: 'waiting to try again', held: 'on hold',
               queued: 'waiting to be sent', scheduled: 'scheduled', sending: 'being sent'};

  // "anna (web) retried message 17 · 22 Nov 2026, 14:05:12"
  function auditLine(a, withTarget) {
    const actor = String(a.actor || 'someone');
    const who = actor.startsWith('http:') ? actor.slice(5) + ' (support page)'
              : actor.startsWith('cli:') ? actor.slice(4) + ' (command line)' : actor;
    const did = AUDIT_WORDS[a.action] || humanize(a.action).toLowerCase();
    // tackd notes a message's move as "dead -> queued": say what it was.
    const move = /^([a-z_]+) -> [a-z_]+$/.exec(a.detail || '');
    const detail = move ? ' (it was ' + (WAS[move[1]] || humanize(move[1]).toLowerCase()) + ')'
                 : a.detail ? ' (' + a.detail + ')' : '';
    return el('span', {class: 'audit-line'},
      el('strong', {text: who}), ' ' + did + (withTarget && a.target ? ' ' + a.target : ' this message'),
      detail, ' · ', timeNode(a.at, true));
  }

  // ---- operator verbs ---------------------------------------------------------------

  const VERBS = {
    retry: {states: ['failed', 'dead', 'retry_wait', 'held'], label: 'Retry',
            title: (m) => 'Send this ' + channelWord(m) + ' again?',
            text: (m) => 'tack sends the ' + channelWord(m) + ' to ' + m.to + ' again now, and ' +
                         'keeps trying for a while if it does not get through. A provider that ' +
                         'already has it will not send it twice.',
            yes: 'Retry', no: 'Go back', done: 'will be sent again'},
    hold: {states: ['queued', 'retry_wait', 'scheduled'], label: 'Hold',
           title: (m) => 'Put this ' + channelWord(m) + ' on hold?',
           text: (m) => 'tack does not send the ' + channelWord(m) + ' to ' + m.to +
                        ' until someone releases it.',
           yes: 'Hold', no: 'Go back', done: 'is on hold'},
    release: {states: ['held'], label: 'Release',
              title: (m) => 'Release this ' + channelWord(m) + '?',
              text: (m) => 'tack sends the ' + channelWord(m) + ' to ' + m.to + ' as soon as it can.',
              yes: 'Release', no: 'Go back', done: 'is released'},
    cancel: {states: ['queued', 'retry_wait', 'scheduled', 'held'], label: 'Cancel',
             title: (m) => 'Cancel this ' + channelWord(m) + '?',
             text: (m) => 'The ' + channelWord(m) + ' to ' + m.to + ' will never be sent. ' +
                          'This cannot be undone.',
             yes: 'Cancel the message', no: 'Keep it', done: 'is cancelled'},
  };

  function actionButtons(m) {
    // The server says which verbs can succeed (a message tack refused
    // itself cannot be retried); older servers send no list.
    const allowed = Array.isArray(m.actions) ? m.actions : null;
    const verbs = Object.keys(VERBS).filter((v) =>
      allowed ? allowed.includes(v) : VERBS[v].states.includes(m.state));
    if (!verbs.length) return null;
    const row = el('div', {class: 'actions'});
    for (const verb of verbs) {
      const spec = VERBS[verb];
      row.append(el('button', {
        type: 'button', class: 'button' + (verb === 'cancel' ? ' danger' : ''), id: verb + '-' + m.id,
        'aria-label': spec.label + ' the ' + channelWord(m) + ' to ' + m.to, text: spec.label,
        on: {click: () => confirmVerb(verb, m)},
      }));
    }
    return row;
  }

  const dialog = document.getElementById('confirm');
  const dialogTitle = document.getElementById('confirm-title');
  const dialogText = document.getElementById('confirm-text');
  const dialogError = document.getElementById('confirm-error');
  const dialogYes = document.getElementById('confirm-yes');
  const dialogNo = document.getElementById('confirm-no');
  let pending = null;  // {verb, message} while the dialog is open

  function confirmVerb(verb, m) {
    const spec = VERBS[verb];
    pending = {verb, message: m, opener: document.activeElement};
    dialogTitle.textContent = spec.title(m);
    dialogText.textContent = spec.text(m);
    dialogError.hidden = true;
    dialogError.textContent = '';
    dialogYes.textContent = spec.yes;
    dialogYes.hidden = false;
    dialogYes.disabled = false;
    dialogYes.className = 'button primary' + (verb === 'cancel' ? ' danger' : '');
    dialogNo.textContent = spec.no;
    dialog.showModal();
    dialogNo.focus();
  }

  dialogNo.addEventListener('click', () => dialog.close());

  dialog.addEventListener('close', () => {
    const opener = pending && pending.opener;
    pending = null;
    // The refresh may have replaced the button that opened the dialog.
    const target = opener && opener.id ? document.getElementById(opener.id) : null;
    if (target) target.focus();
  });

  dialogYes.addEventListener('click', async () => {
    if (!pending) return;
    const {verb, message} = pending;
    dialogYes.disabled = true;
    dialogYes.textContent = 'Working…';
    try {
      const answer = await api('POST', '/v1/messages/' + encodeURIComponent(message.id) + '/' + verb);
      const now = answer && answer.message ? stateInfo(answer.message).label.toLowerCase() : '';
      dialog.close();
      setStatus('The ' + channelWord(message) + ' to ' + message.to + ' ' + VERBS[verb].done +
                (now ? ' (now: ' + now + ').' : '.'), 'good');
    } catch (err) {
      // 409: the verb no longer applies (sent meanwhile, being sent now).
      dialogError.textContent = err.status === 409 || err.status === 404 || err.status === 401
        ? err.message : 'It did not work: ' + err.message;
      dialogError.hidden = false;
      dialogYes.hidden = true;
      dialogNo.textContent = 'Close';
      dialogNo.focus();
    }
    if (current) showOrder(message.order_id, {quiet: true, focusId: 'msg-' + message.id});
  });

  // ---- start ---------------------------------------------------------------------------

  route();
  if (!readHash()) searchInput.focus();
})();

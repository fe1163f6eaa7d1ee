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
//
// Where to look: WORDS (every text, in English, Swedish and Polish), STATES
// (what each message state says, one table), then the views.
'use strict';

(function () {
  // ---- the words ------------------------------------------------------------
  // Every text the page shows, in English, Swedish and Polish. A value is a
  // string, or plural forms chosen by Intl.PluralRules for {n}
  // ({one, few, many, other}); {name} is replaced by params.name.
  // What each message state says is in STATES below, in one table.

  const LANGUAGES = {en: 'English', sv: 'Svenska', pl: 'Polski'};
  const DATE_LOCALES = {en: 'en-GB', sv: 'sv-SE', pl: 'pl-PL'};

  const WORDS = {
    en: {
      'page.title': 'tack · customer messages',
      'brand.sub': 'customer messages',
      'skip': 'Skip to results',
      'heading': 'Customer messages',
      'language': 'Language',
      'search.label': 'Order number, phone or e-mail',
      'search.button': 'Search',
      'search.hint': 'For example 1042, 070-123 45 67 or anna@example.se',
      'search.empty': 'Type an order number, a phone number or an e-mail address.',
      'noscript': 'This page needs JavaScript.',
      'searching': 'Searching…',
      'loading.order': 'Loading order {id}…',
      'showing.order': 'Showing order {id}.',
      'no.order': 'No order “{id}” found.',
      'no.order.hint': 'No order “{id}” found. Check the number, or search by the customer’s phone number or e-mail address.',
      'no.order.status': 'No order found.',
      'failed.search': 'The search failed.',
      'failed.order': 'Loading the order failed.',
      'refresh.failed': 'Could not refresh: {error}',
      'loaded.older': 'Loaded older messages.',
      'found.orders': {one: 'Found {n} order.', other: 'Found {n} orders.'},
      'nothing.found': 'Nothing found.',
      'loading': 'Loading…',
      'older': 'Show older messages',
      'odd.next': 'tack gave an odd next page.',
      // errors
      'err.unreachable': 'tack cannot be reached. Check your connection and try again.',
      'err.no_users': 'No support users are configured in tack, so nobody can sign in. An administrator adds one under http.users in tack’s configuration.',
      'err.password': 'Wrong user name or password. Reload the page to sign in again.',
      'err.status': 'tack answered {status}.',
      'err.unreadable': 'tack sent an answer this page cannot read.',
      'err.missing': 'This tack cannot do that yet: it needs a newer tackd.',
      'err.failed': 'It did not work: {error}',
      // the phone/e-mail search
      'messages.to': 'Messages to ',
      'sent.nothing': 'tack has sent nothing to this {what}. Check it for typos; a phone number can be written in any form, such as 070-123 45 67 or +46701234567.',
      'what.email': 'e-mail address',
      'what.either': 'order number or phone number',
      'what.phone': 'phone number',
      'orders.sub': {one: '{n} order, newest first. Choose one to see everything tack did.',
                     other: '{n} orders, newest first. Choose one to see everything tack did.'},
      'order.link': 'Order ',
      'n.messages': {one: '{n} message', other: '{n} messages'},
      'latest': ' · latest ',
      // one order
      'order': 'Order ',
      'customer': 'Customer: ',
      'order.status': 'Order status: ',
      'unknown': 'unknown',
      'times.in': 'Times in {zone}',
      'split': {one: 'Split shipment: {n} parcel', other: 'Split shipment: {n} parcels'},
      'parcel': 'Parcel {i} of {n}',
      'refresh': 'Refresh',
      'updated': 'Updated ',
      'what.happened': 'What happened',
      'changes': 'Changes and notes by staff',
      'no.changes': 'Nobody has retried, cancelled, held or noted anything.',
      'no.events': 'tack has no events for this order.',
      'other.messages': 'Other messages',
      'next.due': 'Next message due: ',
      'due.now': 'now (due since {time})',
      'due.at': 'at ',
      'next.planned': 'Follow-up planned ',
      'next.quiet': 'Waiting for quiet hours to end, goes out ',
      'nothing.waiting': 'nothing waiting',
      'n.held': {one: '{n} message held', other: '{n} messages held'},
      // the summary: "1 SMS failed, 1 e-mail sent, nothing waiting"
      'noun.sms': {one: 'SMS', other: 'SMS'},
      'noun.email': {one: 'e-mail', other: 'e-mails'},
      'sum.failed': '{n} {noun} failed',
      'sum.held': '{n} {noun} held',
      'sum.waiting': '{n} {noun} waiting',
      'sum.standby': '{n} {noun} waiting as a fallback',
      'sum.sent': '{n} {noun} sent',
      'sum.delivered': '{n} {noun} delivered',
      'sum.not_sent': '{n} {noun} not sent',
      'sum.not_needed': '{n} {noun} not needed',
      'sum.scheduled': '{n} {noun} planned',
      'sum.skipped': '{n} {noun} skipped',
      'sum.none': 'No messages',
      // events
      'happened': 'Happened ',
      'received': ' · received by tack ',
      'from': ' from {source}',
      'event': ' · event ',
      'copies': {one: ' · sent to tack {n} time, the copies ignored',
                 other: ' · sent to tack {n} times, the copies ignored'},
      'verdict.none': 'No message for this status',
      'verdict.failed': {one: '{n} message: {f} failed', other: '{n} messages: {f} failed'},
      'verdict.duplicate': 'Duplicate: already received, nothing new sent',
      'verdict.stale': 'Out of date: the order had already moved on, nothing sent',
      'verdict.rejected': 'Rejected: {reason}',
      'no.reason': 'no reason given',
      // a message
      'channel.sms': 'SMS',
      'channel.email': 'E-mail',
      'word.sms': 'SMS',
      'word.email': 'e-mail',
      'to': 'to ',
      'next.try': 'Next try ',
      'goes.out': 'Goes out ',
      'why': 'Why: ',
      'not.written': 'Written when it goes out.',
      'next.one': ' · the next message due',
      'last.answer': 'Last answer: ',
      'no.receipt.sms': 'No delivery receipt yet: the SMS provider has it, but has not confirmed that it reached the phone.',
      'no.receipt.email': 'No delivery receipt yet: the e-mail server has it, but has not confirmed that it reached the inbox.',
      'receipt': 'Delivery receipt: ',
      'receipt.accepted': 'Accepted by {gateway}',
      'receipt.progress': 'On its way ({status})',
      'receipt.undelivered': 'Not delivered',
      'receipt.bounced': 'Bounced',
      'subject': 'Subject: ',
      'no.subject': '(no subject)',
      'show.text': 'Show the whole e-mail ({n} lines)',
      'show.html': 'Show the HTML version',
      'html.note': 'Shown without its styling and images, so it looks plainer than in the customer’s inbox.',
      'html.title': 'The e-mail’s HTML version',
      'not.tried': 'Not tried yet.',
      'never.sent': 'Never handed to a provider.',
      'n.attempts': {one: '{n} attempt', other: '{n} attempts'},
      'earlier': {one: 'Show {n} earlier attempt', other: 'Show {n} earlier attempts'},
      'answer': 'Answer: ',
      'provider.id': 'Provider’s id: ',
      'took': 'took {ms} ms',
      'via': 'via {gateway}',
      'meta': 'Message {id} · template {template} · language {locale} · rule {rule} · created ',
      'meta.gateway': ' · gateway {gateway}',
      'outcome.sent': 'Accepted',
      'outcome.retry': 'Temporary problem',
      'outcome.rejected': 'Refused',
      'outcome.unknown': 'Unknown: tack stopped while sending',
      'outcome.interrupted': 'Interrupted',
      // audit lines
      'support.page': '{who} (support page)',
      'command.line': '{who} (command line)',
      'someone': 'someone',
      'did.retry': 'retried',
      'did.cancel': 'cancelled',
      'did.hold': 'put on hold',
      'did.release': 'released',
      'did.resend': 'sent again',
      'did.contact': 'corrected the contact details',
      'did.send-now': 'sent{target} at once',
      'this.message': ' this message',
      'wrote.note': ' wrote a note: ',
      'it.was': ' (it was {state})',
      // actions
      'verb.retry': 'Retry',
      'verb.hold': 'Hold',
      'verb.release': 'Release',
      'verb.cancel': 'Cancel',
      'verb.resend': 'Send again',
      'verb.contact': 'Correct phone or e-mail',
      'verb.note': 'Add a note',
      'verb.send-now': 'Send now',
      'verb.label': '{verb} the {channel} to {to}',
      'retry.title': 'Send this {channel} again?',
      'retry.text': 'tack sends the {channel} to {to} again now, and keeps trying for a while if it does not get through. A provider that already has it will not send it twice.',
      'hold.title': 'Put this {channel} on hold?',
      'hold.text': 'tack does not send the {channel} to {to} until someone releases it.',
      'release.title': 'Release this {channel}?',
      'release.text': 'tack sends the {channel} to {to} as soon as it can.',
      'cancel.title': 'Cancel this {channel}?',
      'cancel.text': 'The {channel} to {to} will never be sent. This cannot be undone.',
      'cancel.yes': 'Cancel the message',
      'cancel.no': 'Keep it',
      'send-now.title': 'Send this {channel} now?',
      'send-now.text': 'tack sends the {channel} to {to} now instead of at its planned time (outside the customer’s quiet hours). It is not sent again at that time.',
      'resend.title': 'Send this {channel} to {to} once more?',
      'resend.text': 'tack sends a new copy of the same message. The customer gets it a second time. Say why, for the record.',
      'contact.title': 'Correct the contact details of order {id}',
      'contact.text': 'tack saves the new phone number or e-mail address for this order and sends again what did not get through. Fill in at least one.',
      'note.title': 'A note on order {id}',
      'note.text': 'The note is kept with the order and shown to everyone who opens it.',
      'field.reason': 'Why (required)',
      'field.phone': 'New phone number',
      'field.email': 'New e-mail address',
      'field.note': 'Note (required)',
      'need.reason': 'Say why: the reason is kept with the order.',
      'need.contact': 'Fill in a phone number or an e-mail address.',
      'need.note': 'Write the note first.',
      'go.back': 'Go back',
      'close': 'Close',
      'working': 'Working…',
      'save.note': 'Save the note',
      'save.contact': 'Save and send again',
      'done.retry': 'The {channel} to {to} will be sent again.',
      'done.hold': 'The {channel} to {to} is on hold.',
      'done.release': 'The {channel} to {to} is released.',
      'done.cancel': 'The {channel} to {to} is cancelled.',
      'done.resend': 'A new copy of the {channel} to {to} is on its way.',
      'done.send-now': 'The {channel} to {to} goes out now.',
      'done.contact': {one: 'Saved. {n} message is sent again.', other: 'Saved. {n} messages are sent again.'},
      'done.note': 'The note is saved.',
      'rel.now': 'just now',
      'rel.soon': 'in a few seconds',
    },
    sv: {
      'page.title': 'tack · kundmeddelanden',
      'brand.sub': 'kundmeddelanden',
      'skip': 'Hoppa till resultaten',
      'heading': 'Kundmeddelanden',
      'language': 'Språk',
      'search.label': 'Ordernummer, telefon eller e-post',
      'search.button': 'Sök',
      'search.hint': 'Till exempel 1042, 070-123 45 67 eller anna@example.se',
      'search.empty': 'Skriv ett ordernummer, ett telefonnummer eller en e-postadress.',
      'noscript': 'Sidan behöver JavaScript.',
      'searching': 'Söker…',
      'loading.order': 'Hämtar order {id}…',
      'showing.order': 'Visar order {id}.',
      'no.order': 'Ingen order ”{id}” hittades.',
      'no.order.hint': 'Ingen order ”{id}” hittades. Kontrollera numret, eller sök på kundens telefonnummer eller e-postadress.',
      'no.order.status': 'Ingen order hittades.',
      'failed.search': 'Sökningen misslyckades.',
      'failed.order': 'Det gick inte att hämta ordern.',
      'refresh.failed': 'Kunde inte uppdatera: {error}',
      'loaded.older': 'Äldre meddelanden hämtade.',
      'found.orders': {one: 'Hittade {n} order.', other: 'Hittade {n} ordrar.'},
      'nothing.found': 'Inget hittades.',
      'loading': 'Hämtar…',
      'older': 'Visa äldre meddelanden',
      'odd.next': 'tack gav en konstig nästa sida.',
      'err.unreachable': 'tack går inte att nå. Kontrollera anslutningen och försök igen.',
      'err.no_users': 'Inga supportanvändare är inställda i tack, så ingen kan logga in. En administratör lägger till en under http.users i tacks konfiguration.',
      'err.password': 'Fel användarnamn eller lösenord. Ladda om sidan för att logga in igen.',
      'err.status': 'tack svarade {status}.',
      'err.unreadable': 'tack skickade ett svar som sidan inte kan läsa.',
      'err.missing': 'Den här tack kan inte göra det ännu: det behövs en nyare tackd.',
      'err.failed': 'Det gick inte: {error}',
      'messages.to': 'Meddelanden till ',
      'sent.nothing': 'tack har inte skickat något till detta {what}. Kontrollera stavningen; ett telefonnummer kan skrivas på valfritt sätt, till exempel 070-123 45 67 eller +46701234567.',
      'what.email': 'e-postadress',
      'what.either': 'ordernummer eller telefonnummer',
      'what.phone': 'telefonnummer',
      'orders.sub': {one: '{n} order, nyaste först. Välj en för att se allt tack gjorde.',
                     other: '{n} ordrar, nyaste först. Välj en för att se allt tack gjorde.'},
      'order.link': 'Order ',
      'n.messages': {one: '{n} meddelande', other: '{n} meddelanden'},
      'latest': ' · senast ',
      'order': 'Order ',
      'customer': 'Kund: ',
      'order.status': 'Orderstatus: ',
      'unknown': 'okänd',
      'times.in': 'Tider i {zone}',
      'split': {one: 'Delad leverans: {n} paket', other: 'Delad leverans: {n} paket'},
      'parcel': 'Paket {i} av {n}',
      'refresh': 'Uppdatera',
      'updated': 'Uppdaterad ',
      'what.happened': 'Vad som hänt',
      'changes': 'Ändringar och anteckningar av personal',
      'no.changes': 'Ingen har försökt igen, avbrutit, pausat eller antecknat något.',
      'no.events': 'tack har inga händelser för den här ordern.',
      'other.messages': 'Andra meddelanden',
      'next.due': 'Nästa meddelande: ',
      'due.now': 'nu (skulle ha gått {time})',
      'due.at': 'kl. ',
      'next.planned': 'Uppföljning planerad ',
      'next.quiet': 'Väntar tills de tysta timmarna är slut, skickas ',
      'nothing.waiting': 'inget väntar',
      'n.held': {one: '{n} meddelande pausat', other: '{n} meddelanden pausade'},
      'noun.sms': {one: 'sms', other: 'sms'},
      'noun.email': {one: 'mejl', other: 'mejl'},
      'sum.failed': '{n} {noun} misslyckades',
      'sum.held': {one: '{n} {noun} pausat', other: '{n} {noun} pausade'},
      'sum.waiting': '{n} {noun} väntar',
      'sum.standby': '{n} {noun} väntar som reserv',
      'sum.sent': {one: '{n} {noun} skickat', other: '{n} {noun} skickade'},
      'sum.delivered': {one: '{n} {noun} levererat', other: '{n} {noun} levererade'},
      'sum.not_sent': {one: '{n} {noun} inte skickat', other: '{n} {noun} inte skickade'},
      'sum.not_needed': {one: '{n} {noun} behövdes inte', other: '{n} {noun} behövdes inte'},
      'sum.scheduled': {one: '{n} {noun} planerat', other: '{n} {noun} planerade'},
      'sum.skipped': '{n} {noun} hoppades över',
      'sum.none': 'Inga meddelanden',
      'happened': 'Hände ',
      'received': ' · mottaget av tack ',
      'from': ' från {source}',
      'event': ' · händelse ',
      'copies': {one: ' · skickat till tack {n} gång, kopiorna ignorerade',
                 other: ' · skickat till tack {n} gånger, kopiorna ignorerade'},
      'verdict.none': 'Inget meddelande för den här statusen',
      'verdict.failed': {one: '{n} meddelande: {f} misslyckades', other: '{n} meddelanden: {f} misslyckades'},
      'verdict.duplicate': 'Dubblett: redan mottagen, inget nytt skickat',
      'verdict.stale': 'Inaktuell: ordern hade redan gått vidare, inget skickat',
      'verdict.rejected': 'Avvisad: {reason}',
      'no.reason': 'inget skäl angivet',
      'channel.sms': 'Sms',
      'channel.email': 'E-post',
      'word.sms': 'sms',
      'word.email': 'mejl',
      'to': 'till ',
      'next.try': 'Nästa försök ',
      'goes.out': 'Skickas ',
      'why': 'Varför: ',
      'not.written': 'Skrivs när det skickas.',
      'next.one': ' · nästa meddelande på tur',
      'last.answer': 'Senaste svar: ',
      'no.receipt.sms': 'Inget leveranskvitto ännu: sms-leverantören har det, men har inte bekräftat att det nått telefonen.',
      'no.receipt.email': 'Inget leveranskvitto ännu: e-postservern har det, men har inte bekräftat att det nått inkorgen.',
      'receipt': 'Leveranskvitto: ',
      'receipt.accepted': 'Mottaget av {gateway}',
      'receipt.progress': 'På väg ({status})',
      'receipt.undelivered': 'Inte levererat',
      'receipt.bounced': 'Studsade',
      'subject': 'Ämne: ',
      'no.subject': '(inget ämne)',
      'show.text': 'Visa hela mejlet ({n} rader)',
      'show.html': 'Visa HTML-versionen',
      'html.note': 'Visas utan formatering och bilder, så det ser enklare ut än i kundens inkorg.',
      'html.title': 'Mejlets HTML-version',
      'not.tried': 'Inte försökt ännu.',
      'never.sent': 'Aldrig lämnat till någon leverantör.',
      'n.attempts': {one: '{n} försök', other: '{n} försök'},
      'earlier': {one: 'Visa {n} tidigare försök', other: 'Visa {n} tidigare försök'},
      'answer': 'Svar: ',
      'provider.id': 'Leverantörens id: ',
      'took': 'tog {ms} ms',
      'via': 'via {gateway}',
      'meta': 'Meddelande {id} · mall {template} · språk {locale} · regel {rule} · skapat ',
      'meta.gateway': ' · gateway {gateway}',
      'outcome.sent': 'Mottaget',
      'outcome.retry': 'Tillfälligt problem',
      'outcome.rejected': 'Nekat',
      'outcome.unknown': 'Okänt: tack stoppades mitt i sändningen',
      'outcome.interrupted': 'Avbrutet',
      'support.page': '{who} (supportsidan)',
      'command.line': '{who} (kommandoraden)',
      'someone': 'någon',
      'did.retry': 'försökte igen med',
      'did.cancel': 'avbröt',
      'did.hold': 'pausade',
      'did.release': 'släppte',
      'did.resend': 'skickade om',
      'did.contact': 'rättade kontaktuppgifterna',
      'did.send-now': 'skickade{target} direkt',
      'this.message': ' detta meddelande',
      'wrote.note': ' skrev en anteckning: ',
      'it.was': ' (det var {state})',
      'verb.retry': 'Försök igen',
      'verb.hold': 'Pausa',
      'verb.release': 'Släpp',
      'verb.cancel': 'Avbryt',
      'verb.resend': 'Skicka igen',
      'verb.contact': 'Rätta telefon eller e-post',
      'verb.note': 'Skriv en anteckning',
      'verb.send-now': 'Skicka nu',
      'verb.label': '{verb}: {channel} till {to}',
      'retry.title': 'Skicka detta {channel} igen?',
      'retry.text': 'tack skickar {channel} till {to} igen nu, och fortsätter försöka en stund om det inte går fram. En leverantör som redan har det skickar det inte två gånger.',
      'hold.title': 'Pausa detta {channel}?',
      'hold.text': 'tack skickar inte {channel} till {to} förrän någon släpper det.',
      'release.title': 'Släppa detta {channel}?',
      'release.text': 'tack skickar {channel} till {to} så snart det går.',
      'cancel.title': 'Avbryta detta {channel}?',
      'cancel.text': 'Detta {channel} till {to} kommer aldrig att skickas. Det går inte att ångra.',
      'cancel.yes': 'Avbryt meddelandet',
      'cancel.no': 'Behåll det',
      'send-now.title': 'Skicka detta {channel} nu?',
      'send-now.text': 'tack skickar {channel} till {to} nu i stället för vid den planerade tiden (utanför kundens tysta timmar). Det skickas inte igen då.',
      'resend.title': 'Skicka detta {channel} till {to} en gång till?',
      'resend.text': 'tack skickar en ny kopia av samma meddelande. Kunden får det en andra gång. Skriv varför, för loggen.',
      'contact.title': 'Rätta kontaktuppgifterna för order {id}',
      'contact.text': 'tack sparar det nya telefonnumret eller e-postadressen för ordern och skickar igen det som inte gick fram. Fyll i minst ett.',
      'note.title': 'En anteckning om order {id}',
      'note.text': 'Anteckningen sparas med ordern och visas för alla som öppnar den.',
      'field.reason': 'Varför (måste fyllas i)',
      'field.phone': 'Nytt telefonnummer',
      'field.email': 'Ny e-postadress',
      'field.note': 'Anteckning (måste fyllas i)',
      'need.reason': 'Skriv varför: skälet sparas med ordern.',
      'need.contact': 'Fyll i ett telefonnummer eller en e-postadress.',
      'need.note': 'Skriv anteckningen först.',
      'go.back': 'Gå tillbaka',
      'close': 'Stäng',
      'working': 'Arbetar…',
      'save.note': 'Spara anteckningen',
      'save.contact': 'Spara och skicka igen',
      'done.retry': 'Detta {channel} till {to} skickas igen.',
      'done.hold': 'Detta {channel} till {to} är pausat.',
      'done.release': 'Detta {channel} till {to} är släppt.',
      'done.cancel': 'Detta {channel} till {to} är avbrutet.',
      'done.resend': 'En ny kopia av detta {channel} till {to} är på väg.',
      'done.send-now': 'Detta {channel} till {to} skickas nu.',
      'done.contact': {one: 'Sparat. {n} meddelande skickas igen.', other: 'Sparat. {n} meddelanden skickas igen.'},
      'done.note': 'Anteckningen är sparad.',
      'rel.now': 'just nu',
      'rel.soon': 'om några sekunder',
    },
    pl: {
      'page.title': 'tack · wiadomości do klientów',
      'brand.sub': 'wiadomości do klientów',
      'skip': 'Przejdź do wyników',
      'heading': 'Wiadomości do klientów',
      'language': 'Język',
      'search.label': 'Numer zamówienia, telefon lub e-mail',
      'search.button': 'Szukaj',
      'search.hint': 'Na przykład 1042, 070-123 45 67 lub anna@example.se',
      'search.empty': 'Wpisz numer zamówienia, numer telefonu lub adres e-mail.',
      'noscript': 'Ta strona wymaga JavaScriptu.',
      'searching': 'Szukanie…',
      'loading.order': 'Wczytywanie zamówienia {id}…',
      'showing.order': 'Zamówienie {id}.',
      'no.order': 'Nie znaleziono zamówienia „{id}”.',
      'no.order.hint': 'Nie znaleziono zamówienia „{id}”. Sprawdź numer albo wyszukaj po numerze telefonu lub adresie e-mail klienta.',
      'no.order.status': 'Nie znaleziono zamówienia.',
      'failed.search': 'Wyszukiwanie nie powiodło się.',
      'failed.order': 'Nie udało się wczytać zamówienia.',
      'refresh.failed': 'Nie udało się odświeżyć: {error}',
      'loaded.older': 'Wczytano starsze wiadomości.',
      'found.orders': {one: 'Znaleziono {n} zamówienie.', few: 'Znaleziono {n} zamówienia.',
                       other: 'Znaleziono {n} zamówień.'},
      'nothing.found': 'Nic nie znaleziono.',
      'loading': 'Wczytywanie…',
      'older': 'Pokaż starsze wiadomości',
      'odd.next': 'tack podał dziwną następną stronę.',
      'err.unreachable': 'Brak połączenia z tack. Sprawdź połączenie i spróbuj ponownie.',
      'err.no_users': 'W tack nie skonfigurowano żadnych użytkowników wsparcia, więc nikt nie może się zalogować. Administrator dodaje ich w http.users w konfiguracji tack.',
      'err.password': 'Błędna nazwa użytkownika lub hasło. Odśwież stronę, aby zalogować się ponownie.',
      'err.status': 'tack odpowiedział {status}.',
      'err.unreadable': 'tack wysłał odpowiedź, której ta strona nie umie odczytać.',
      'err.missing': 'Ten tack jeszcze tego nie potrafi: potrzebny jest nowszy tackd.',
      'err.failed': 'Nie udało się: {error}',
      'messages.to': 'Wiadomości do ',
      'sent.nothing': 'tack nic nie wysłał na ten {what}. Sprawdź, czy nie ma literówki; numer telefonu można wpisać w dowolnej postaci, np. 070-123 45 67 lub +46701234567.',
      'what.email': 'adres e-mail',
      'what.either': 'numer zamówienia lub telefonu',
      'what.phone': 'numer telefonu',
      'orders.sub': {one: '{n} zamówienie, najnowsze najpierw. Wybierz, aby zobaczyć wszystko, co zrobił tack.',
                     few: '{n} zamówienia, najnowsze najpierw. Wybierz, aby zobaczyć wszystko, co zrobił tack.',
                     other: '{n} zamówień, najnowsze najpierw. Wybierz, aby zobaczyć wszystko, co zrobił tack.'},
      'order.link': 'Zamówienie ',
      'n.messages': {one: '{n} wiadomość', few: '{n} wiadomości', other: '{n} wiadomości'},
      'latest': ' · ostatnia ',
      'order': 'Zamówienie ',
      'customer': 'Klient: ',
      'order.status': 'Status zamówienia: ',
      'unknown': 'nieznany',
      'times.in': 'Czas w strefie {zone}',
      'split': {one: 'Wysyłka dzielona: {n} paczka', few: 'Wysyłka dzielona: {n} paczki',
                other: 'Wysyłka dzielona: {n} paczek'},
      'parcel': 'Paczka {i} z {n}',
      'refresh': 'Odśwież',
      'updated': 'Zaktualizowano ',
      'what.happened': 'Co się wydarzyło',
      'changes': 'Zmiany i notatki obsługi',
      'no.changes': 'Nikt niczego nie ponowił, nie anulował, nie wstrzymał ani nie zanotował.',
      'no.events': 'tack nie ma zdarzeń dla tego zamówienia.',
      'other.messages': 'Inne wiadomości',
      'next.due': 'Następna wiadomość: ',
      'due.now': 'teraz (zaplanowana na {time})',
      'due.at': 'o ',
      'next.planned': 'Zaplanowana wiadomość ',
      'next.quiet': 'Czeka na koniec godzin ciszy, wysyłka ',
      'nothing.waiting': 'nic nie czeka',
      'n.held': {one: '{n} wiadomość wstrzymana', few: '{n} wiadomości wstrzymane',
                 other: '{n} wiadomości wstrzymanych'},
      'noun.sms': {one: 'SMS', few: 'SMS-y', other: 'SMS-ów'},
      'noun.email': {one: 'e-mail', few: 'e-maile', other: 'e-maili'},
      'sum.failed': {one: '{n} {noun} nieudany', few: '{n} {noun} nieudane', other: '{n} {noun} nieudanych'},
      'sum.held': {one: '{n} {noun} wstrzymany', few: '{n} {noun} wstrzymane', other: '{n} {noun} wstrzymanych'},
      'sum.waiting': {one: '{n} {noun} czeka', few: '{n} {noun} czekają', other: '{n} {noun} czeka'},
      'sum.standby': {one: '{n} {noun} zapasowy czeka', few: '{n} {noun} zapasowe czekają',
                      other: '{n} {noun} zapasowych czeka'},
      'sum.sent': {one: '{n} {noun} wysłany', few: '{n} {noun} wysłane', other: '{n} {noun} wysłanych'},
      'sum.delivered': {one: '{n} {noun} doręczony', few: '{n} {noun} doręczone', other: '{n} {noun} doręczonych'},
      'sum.not_sent': {one: '{n} {noun} niewysłany', few: '{n} {noun} niewysłane', other: '{n} {noun} niewysłanych'},
      'sum.not_needed': {one: '{n} {noun} niepotrzebny', few: '{n} {noun} niepotrzebne', other: '{n} {noun} niepotrzebnych'},
      'sum.scheduled': {one: '{n} {noun} zaplanowany', few: '{n} {noun} zaplanowane', other: '{n} {noun} zaplanowanych'},
      'sum.skipped': {one: '{n} {noun} pominięty', few: '{n} {noun} pominięte', other: '{n} {noun} pominiętych'},
      'sum.none': 'Brak wiadomości',
      'happened': 'Zdarzenie ',
      'received': ' · odebrane przez tack ',
      'from': ' z {source}',
      'event': ' · zdarzenie ',
      'copies': {one: ' · wysłane do tack {n} raz, kopie pominięte',
                 other: ' · wysłane do tack {n} razy, kopie pominięte'},
      'verdict.none': 'Brak wiadomości dla tego statusu',
      'verdict.failed': {one: '{n} wiadomość: nieudane {f}', few: '{n} wiadomości: nieudane {f}',
                         other: '{n} wiadomości: nieudane {f}'},
      'verdict.duplicate': 'Duplikat: już odebrane, nic nowego nie wysłano',
      'verdict.stale': 'Nieaktualne: zamówienie było już dalej, nic nie wysłano',
      'verdict.rejected': 'Odrzucone: {reason}',
      'no.reason': 'bez podania powodu',
      'channel.sms': 'SMS',
      'channel.email': 'E-mail',
      'word.sms': 'SMS',
      'word.email': 'e-mail',
      'to': 'do ',
      'next.try': 'Następna próba ',
      'goes.out': 'Wysyłka ',
      'why': 'Dlaczego: ',
      'not.written': 'Treść powstanie w chwili wysyłki.',
      'next.one': ' · następna w kolejce',
      'last.answer': 'Ostatnia odpowiedź: ',
      'no.receipt.sms': 'Brak potwierdzenia doręczenia: dostawca SMS ma wiadomość, ale nie potwierdził, że dotarła na telefon.',
      'no.receipt.email': 'Brak potwierdzenia doręczenia: serwer poczty ma wiadomość, ale nie potwierdził, że dotarła do skrzynki.',
      'receipt': 'Potwierdzenie doręczenia: ',
      'receipt.accepted': 'Przyjęta przez {gateway}',
      'receipt.progress': 'W drodze ({status})',
      'receipt.undelivered': 'Nie doręczono',
      'receipt.bounced': 'Odbita',
      'subject': 'Temat: ',
      'no.subject': '(bez tematu)',
      'show.text': 'Pokaż cały e-mail (wierszy: {n})',
      'show.html': 'Pokaż wersję HTML',
      'html.note': 'Bez stylów i obrazków, więc wygląda skromniej niż w skrzynce klienta.',
      'html.title': 'Wersja HTML e-maila',
      'not.tried': 'Jeszcze nie próbowano.',
      'never.sent': 'Nigdy nie przekazano dostawcy.',
      'n.attempts': {one: '{n} próba', few: '{n} próby', other: '{n} prób'},
      'earlier': {one: 'Pokaż {n} wcześniejszą próbę', few: 'Pokaż {n} wcześniejsze próby',
                  other: 'Pokaż {n} wcześniejszych prób'},
      'answer': 'Odpowiedź: ',
      'provider.id': 'Id u dostawcy: ',
      'took': 'trwało {ms} ms',
      'via': 'przez {gateway}',
      'meta': 'Wiadomość {id} · szablon {template} · język {locale} · reguła {rule} · utworzona ',
      'meta.gateway': ' · bramka {gateway}',
      'outcome.sent': 'Przyjęte',
      'outcome.retry': 'Chwilowy problem',
      'outcome.rejected': 'Odrzucone',
      'outcome.unknown': 'Nieznane: tack zatrzymał się w trakcie wysyłki',
      'outcome.interrupted': 'Przerwane',
      'support.page': '{who} (strona wsparcia)',
      'command.line': '{who} (wiersz poleceń)',
      'someone': 'ktoś',
      'did.retry': 'ponowił(a)',
      'did.cancel': 'anulował(a)',
      'did.hold': 'wstrzymał(a)',
      'did.release': 'zwolnił(a)',
      'did.resend': 'wysłał(a) ponownie',
      'did.contact': 'poprawił(a) dane kontaktowe',
      'did.send-now': 'wysłał(a){target} od razu',
      'this.message': ' tę wiadomość',
      'wrote.note': ' dodał(a) notatkę: ',
      'it.was': ' (stan: {state})',
      'verb.retry': 'Ponów',
      'verb.hold': 'Wstrzymaj',
      'verb.release': 'Zwolnij',
      'verb.cancel': 'Anuluj',
      'verb.resend': 'Wyślij ponownie',
      'verb.contact': 'Popraw telefon lub e-mail',
      'verb.note': 'Dodaj notatkę',
      'verb.send-now': 'Wyślij teraz',
      'verb.label': '{verb}: {channel} do {to}',
      'retry.title': 'Wysłać ten {channel} jeszcze raz?',
      'retry.text': 'tack wysyła {channel} do {to} ponownie teraz i próbuje jeszcze przez jakiś czas, jeśli nie dotrze. Dostawca, który już go ma, nie wyśle go dwa razy.',
      'hold.title': 'Wstrzymać ten {channel}?',
      'hold.text': 'tack nie wyśle {channel} do {to}, dopóki ktoś go nie zwolni.',
      'release.title': 'Zwolnić ten {channel}?',
      'release.text': 'tack wyśle {channel} do {to} najszybciej, jak się da.',
      'cancel.title': 'Anulować ten {channel}?',
      'cancel.text': '{channel} do {to} nigdy nie zostanie wysłany. Tego nie można cofnąć.',
      'cancel.yes': 'Anuluj wiadomość',
      'cancel.no': 'Zostaw',
      'send-now.title': 'Wysłać ten {channel} teraz?',
      'send-now.text': 'tack wyśle {channel} do {to} teraz zamiast o zaplanowanej porze (poza godzinami ciszy klienta). O tamtej porze nie wyśle go ponownie.',
      'resend.title': 'Wysłać ten {channel} do {to} jeszcze raz?',
      'resend.text': 'tack wysyła nową kopię tej samej wiadomości. Klient dostanie ją drugi raz. Podaj powód, do rejestru.',
      'contact.title': 'Popraw dane kontaktowe zamówienia {id}',
      'contact.text': 'tack zapisuje nowy numer telefonu lub adres e-mail dla zamówienia i wysyła ponownie to, co nie dotarło. Wypełnij co najmniej jedno.',
      'note.title': 'Notatka do zamówienia {id}',
      'note.text': 'Notatka jest zapisywana przy zamówieniu i widoczna dla każdego, kto je otworzy.',
      'field.reason': 'Powód (wymagany)',
      'field.phone': 'Nowy numer telefonu',
      'field.email': 'Nowy adres e-mail',
      'field.note': 'Notatka (wymagana)',
      'need.reason': 'Podaj powód: zostanie zapisany przy zamówieniu.',
      'need.contact': 'Wpisz numer telefonu lub adres e-mail.',
      'need.note': 'Najpierw napisz notatkę.',
      'go.back': 'Wróć',
      'close': 'Zamknij',
      'working': 'Pracuję…',
      'save.note': 'Zapisz notatkę',
      'save.contact': 'Zapisz i wyślij ponownie',
      'done.retry': '{channel} do {to} zostanie wysłany ponownie.',
      'done.hold': '{channel} do {to} jest wstrzymany.',
      'done.release': '{channel} do {to} jest zwolniony.',
      'done.cancel': '{channel} do {to} jest anulowany.',
      'done.resend': 'Nowa kopia: {channel} do {to} jest w drodze.',
      'done.send-now': '{channel} do {to} zostanie wysłany teraz.',
      'done.contact': {one: 'Zapisano. Ponownie wysyłana jest {n} wiadomość.',
                       few: 'Zapisano. Ponownie wysyłane są {n} wiadomości.',
                       other: 'Zapisano. Ponownie wysyłanych jest {n} wiadomości.'},
      'done.note': 'Notatka zapisana.',
      'rel.now': 'przed chwilą',
      'rel.soon': 'za kilka sekund',
    },
  };

  // ---- what a message's state means: ONE table ----------------------------
  // For each state: its tone (good: green, only for a confirmed delivery;
  // neutral: blue-grey, handed on; wait: amber; bad: red; off: grey; skip:
  // violet-grey, left out by the shop's own rules, nobody's fault), the
  // headline badge and a sentence that says who decided and what happens
  // next, in each language. A text may be {sms, email} when the channel
  // matters. {receiver}-free on purpose: each line is a whole sentence a
  // translator can read. `due`: show the next attempt's time; `problem`:
  // show the provider's last answer; `waiting`: an attempt is still to come.
  // "refused" is not a state: it is `failed` with no attempt (tack refused
  // the message at intake, the API's refused_by_tack). Beside these, a
  // message's own `note` from tackd (why it waits, was cancelled or
  // skipped; English) is shown as it is, after "Why:".

  const STATES = {
    scheduled: {tone: 'wait', due: true, waiting: true,
      en: {label: 'Scheduled'},
      sv: {label: 'Schemalagt'},
      pl: {label: 'Zaplanowana'}},
    queued: {tone: 'wait', waiting: true,
      en: {label: 'Waiting to be sent', note: 'tack sends it in a moment.'},
      sv: {label: 'Väntar på att skickas', note: 'tack skickar det om ett ögonblick.'},
      pl: {label: 'Czeka na wysłanie', note: 'tack wyśle ją za chwilę.'}},
    sending: {tone: 'wait', waiting: true,
      en: {label: 'Being sent right now'},
      sv: {label: 'Skickas just nu'},
      pl: {label: 'Wysyłanie w toku'}},
    retry_wait: {tone: 'wait', due: true, problem: true, waiting: true,
      en: {label: 'Not through yet: tack tries again',
           note: 'The provider could not take it; tack tries again by itself.'},
      sv: {label: 'Inte fram än: tack försöker igen',
           note: 'Leverantören kunde inte ta emot det; tack försöker igen av sig själv.'},
      pl: {label: 'Jeszcze nie dotarła: tack spróbuje ponownie',
           note: 'Dostawca nie mógł jej przyjąć; tack sam spróbuje ponownie.'}},
    held: {tone: 'wait', waiting: true,
      en: {label: 'On hold', note: 'Paused by staff: it is not sent until someone releases it.'},
      sv: {label: 'Pausat', note: 'Pausat av personal: det skickas inte förrän någon släpper det.'},
      pl: {label: 'Wstrzymana', note: 'Wstrzymana przez obsługę: nie zostanie wysłana, dopóki ktoś jej nie zwolni.'}},
    standby: {tone: 'off',
      en: {label: 'Waiting as a fallback', note: 'Sent only if the first message fails.'},
      sv: {label: 'Väntar som reserv', note: 'Skickas bara om det första meddelandet misslyckas.'},
      pl: {label: 'Czeka jako zapasowa', note: 'Zostanie wysłana tylko, jeśli pierwsza wiadomość się nie powiedzie.'}},
    sent: {tone: 'neutral',
      en: {label: 'Sent to the provider'},
      sv: {label: 'Skickat till leverantören'},
      pl: {label: 'Wysłano do dostawcy'}},
    delivered: {tone: 'good',
      en: {label: {sms: 'Delivered to the phone', email: 'Delivered to the inbox'},
           note: 'The provider confirmed the delivery.'},
      sv: {label: {sms: 'Levererat till telefonen', email: 'Levererat till inkorgen'},
           note: 'Leverantören har bekräftat leveransen.'},
      pl: {label: {sms: 'Doręczono na telefon', email: 'Doręczono do skrzynki'},
           note: 'Dostawca potwierdził doręczenie.'}},
    undelivered: {tone: 'bad', problem: true,
      en: {label: {sms: 'Not delivered to the phone', email: 'Not delivered'},
           note: 'The provider took it, then reported that it could not be delivered. A fallback, if the rule has one, goes out instead.'},
      sv: {label: {sms: 'Inte levererat till telefonen', email: 'Inte levererat'},
           note: 'Leverantören tog emot det och rapporterade sedan att det inte gick att leverera. En reserv, om regeln har en, skickas i stället.'},
      pl: {label: {sms: 'Nie doręczono na telefon', email: 'Nie doręczono'},
           note: 'Dostawca przyjął wiadomość, a potem zgłosił, że nie dało się jej doręczyć. Zapasowa wiadomość, jeśli reguła ją ma, zostanie wysłana zamiast niej.'}},
    bounced: {tone: 'bad', problem: true,
      en: {label: 'Bounced by the recipient’s mail server',
           note: 'The e-mail provider took it, then the recipient’s server refused it. Check the address.'},
      sv: {label: 'Studsade hos mottagarens e-postserver',
           note: 'E-postleverantören tog emot det, men mottagarens server nekade det. Kontrollera adressen.'},
      pl: {label: 'Odbita przez serwer poczty odbiorcy',
           note: 'Dostawca poczty przyjął wiadomość, ale serwer odbiorcy ją odrzucił. Sprawdź adres.'}},
    failed: {tone: 'bad', problem: true,
      en: {label: {sms: 'Refused by the SMS provider', email: 'Refused by the e-mail server'},
           note: 'tack does not try again by itself.'},
      sv: {label: {sms: 'Nekat av sms-leverantören', email: 'Nekat av e-postservern'},
           note: 'tack försöker inte igen av sig själv.'},
      pl: {label: {sms: 'Odrzucona przez dostawcę SMS', email: 'Odrzucona przez serwer poczty'},
           note: 'tack sam nie spróbuje ponownie.'}},
    refused: {tone: 'bad',
      en: {label: 'Refused by tack before sending: {reason}',
           note: 'No provider saw it. Correct the phone number or e-mail address to send it.'},
      sv: {label: 'Stoppat av tack före sändning: {reason}',
           note: 'Ingen leverantör såg det. Rätta telefonnumret eller e-postadressen för att skicka det.'},
      pl: {label: 'Odrzucona przez tack przed wysłaniem: {reason}',
           note: 'Żaden dostawca jej nie widział. Popraw numer telefonu lub adres e-mail, aby ją wysłać.'}},
    dead: {tone: 'bad', problem: true,
      en: {label: {one: 'Gave up after {n} attempt', other: 'Gave up after {n} attempts'},
           note: 'tack does not try again by itself.'},
      sv: {label: 'Gav upp efter {n} försök', note: 'tack försöker inte igen av sig själv.'},
      pl: {label: {one: 'Rezygnacja po {n} próbie', other: 'Rezygnacja po {n} próbach'},
           note: 'tack sam nie spróbuje ponownie.'}},
    expired: {tone: 'bad', problem: true,
      en: {label: 'Expired: not sent in time',
           note: 'It would have arrived too late to be useful, so tack never sent it.'},
      sv: {label: 'Förfallet: inte skickat i tid',
           note: 'Det hade kommit för sent för att vara till nytta, så tack skickade det aldrig.'},
      pl: {label: 'Wygasła: nie wysłano na czas',
           note: 'Dotarłaby za późno, by się przydać, więc tack jej nie wysłał.'}},
    cancelled: {tone: 'off',
      en: {label: 'Cancelled', note: 'Cancelled by staff or a request to forget the customer: it will not be sent.'},
      sv: {label: 'Avbrutet', note: 'Avbrutet av personal eller en begäran om att glömma kunden: det skickas inte.'},
      pl: {label: 'Anulowana', note: 'Anulowana przez obsługę lub prośbę o usunięcie danych klienta: nie zostanie wysłana.'}},
    superseded: {tone: 'off',
      en: {label: 'Not sent: a newer update replaced it', note: 'tack sent the newer news instead.'},
      sv: {label: 'Inte skickat: en nyare uppdatering ersatte det', note: 'tack skickade den nyare nyheten i stället.'},
      pl: {label: 'Nie wysłano: zastąpiona nowszą informacją', note: 'tack wysłał zamiast niej nowszą wiadomość.'}},
    suppressed: {tone: 'off',
      en: {label: 'Not sent: the customer opted out', note: 'The customer asked not to get messages this way.'},
      sv: {label: 'Inte skickat: kunden har tackat nej', note: 'Kunden har bett att inte få meddelanden på det här sättet.'},
      pl: {label: 'Nie wysłano: klient zrezygnował', note: 'Klient poprosił, by nie wysyłać mu wiadomości tą drogą.'}},
    skipped: {tone: 'skip',
      en: {label: 'Skipped', note: 'By the shop’s rules, tack does not send it.'},
      sv: {label: 'Hoppades över', note: 'Enligt butikens regler skickar tack det inte.'},
      pl: {label: 'Pominięto', note: 'Zgodnie z regułami sklepu tack jej nie wyśle.'}},
    not_needed: {tone: 'off',
      en: {label: 'Not needed: the first message got through', note: 'tack will not send it.'},
      sv: {label: 'Behövs inte: det första meddelandet kom fram', note: 'tack skickar det inte.'},
      pl: {label: 'Niepotrzebna: pierwsza wiadomość dotarła', note: 'tack jej nie wyśle.'}},
    unknown: {tone: 'off',
      en: {label: 'Unknown state: {state}'},
      sv: {label: 'Okänt läge: {state}'},
      pl: {label: 'Nieznany stan: {state}'}},
  };

  // Which line of the order summary a state counts in.
  const SUMMARY_GROUP = {
    failed: 'failed', dead: 'failed', expired: 'failed', undelivered: 'failed', bounced: 'failed',
    held: 'held',
    queued: 'waiting', sending: 'waiting', retry_wait: 'waiting',
    scheduled: 'scheduled',
    standby: 'standby',
    sent: 'sent', delivered: 'delivered',
    cancelled: 'not_sent', superseded: 'not_sent', suppressed: 'not_sent', not_needed: 'not_needed',
    skipped: 'skipped',
  };
  const SUMMARY_ORDER = ['failed', 'held', 'waiting', 'scheduled', 'standby', 'sent', 'delivered', 'not_needed',
                         'skipped', 'not_sent'];

  // ---- choosing and using a language -----------------------------------------

  const LANGUAGE_KEY = 'tack.language';

  function pickLanguage() {
    let stored = null;
    try {
      stored = localStorage.getItem(LANGUAGE_KEY);
    } catch (err) {
      stored = null;  // storage off: the browser's languages decide
    }
    if (stored && WORDS[stored]) return stored;
    for (const tag of navigator.languages || [navigator.language || 'en']) {
      const base = String(tag).toLowerCase().split('-')[0];
      if (base === 'nb' || base === 'nn' || base === 'no' || base === 'da') continue;
      if (WORDS[base]) return base;
    }
    return 'en';
  }

  let lang = pickLanguage();
  let plurals = new Intl.PluralRules(DATE_LOCALES[lang]);

  function fill(text, params) {
    return String(text).replace(/\{(\w+)\}/g, (whole, name) =>
      params && params[name] !== undefined && params[name] !== null ? String(params[name]) : whole);
  }

  // One form of a plural entry for n.
  function form(entry, n) {
    if (typeof entry === 'string') return entry;
    return entry[plurals.select(Number(n) || 0)] || entry.other;
  }

  // t('n.messages', {n: 2}) -> "2 messages" in the chosen language.
  function t(key, params) {
    const entry = WORDS[lang][key] !== undefined ? WORDS[lang][key] : WORDS.en[key];
    if (entry === undefined) return key;
    return fill(form(entry, params && params.n), params);
  }

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

  // ---- times, in the shop's time zone ----------------------------------------
  // tackd says which zone (locale.timezone) in each answer; until then, and
  // for a zone this browser does not know, the browser's own.

  let shopZone = null;
  let formats = null;  // {date, relative} for lang and shopZone

  function setShopZone(zone) {
    if (typeof zone !== 'string' || !zone || zone === shopZone) return;
    try {
      new Intl.DateTimeFormat('en', {timeZone: zone});
    } catch (err) {
      return;
    }
    shopZone = zone;
    formats = null;
  }

  function currentFormats() {
    if (!formats) {
      const options = {day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit',
                       second: '2-digit', hourCycle: 'h23', timeZoneName: 'short'};
      if (shopZone) options.timeZone = shopZone;
      const short = {weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit',
                     minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short'};
      if (shopZone) short.timeZone = shopZone;
      formats = {date: new Intl.DateTimeFormat(DATE_LOCALES[lang], options),
                 short: new Intl.DateTimeFormat(DATE_LOCALES[lang], short),
                 relative: new Intl.RelativeTimeFormat(DATE_LOCALES[lang], {numeric: 'auto'})};
    }
    return formats;
  }

  function parseTime(iso) {
    if (typeof iso !== 'string' || iso === '') return null;
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? null : date;
  }

  // "3 minutes ago", "in 2 hours"
  function relativeTime(date) {
    const seconds = Math.round((date.getTime() - Date.now()) / 1000);
    const abs = Math.abs(seconds);
    if (abs < 45) return seconds <= 0 ? t('rel.now') : t('rel.soon');
    const relative = currentFormats().relative;
    const steps = [[3600, 60, 'minute'], [86400, 3600, 'hour'], [86400 * 30, 86400, 'day'],
                   [86400 * 365, 86400 * 30, 'month']];
    for (const [limit, unit, name] of steps) {
      if (abs < limit) return relative.format(Math.round(seconds / unit), name);
    }
    return relative.format(Math.round(seconds / (86400 * 365)), 'year');
  }

  // <time> in the shop's time zone, with the zone; the relative time as its
  // title, or also as secondary text after it (showRelative).
  function timeNode(iso, showRelative) {
    const date = parseTime(iso);
    if (!date) return el('span', {class: 'time unknown', text: iso ? String(iso) : t('unknown')});
    const rel = relativeTime(date);
    const node = el('time', {datetime: iso, title: rel + ' (' + iso + ')',
                             text: currentFormats().date.format(date)});
    if (!showRelative) return node;
    return el('span', {class: 'time'}, node, el('span', {class: 'relative', text: ' (' + rel + ')'}));
  }

  // When a planned message goes: "Tue 8 Dec 10:00 CET" (the year only when
  // it is not this year's), in the shop's zone; the relative time and the
  // exact one as its title.
  function shortTime(date) {
    const parts = (d) => {
      const out = {};
      for (const part of currentFormats().short.formatToParts(d)) out[part.type] = part.value;
      return out;
    };
    const p = parts(date);
    const year = p.year !== parts(new Date()).year ? p.year : null;
    return [p.weekday, p.day, p.month, year, p.hour + ':' + p.minute, p.timeZoneName].filter(Boolean).join(' ');
  }

  function dueNode(iso) {
    const date = parseTime(iso);
    if (!date) return el('span', {class: 'time unknown', text: iso ? String(iso) : t('unknown')});
    return el('time', {datetime: iso, class: 'due', title: relativeTime(date) + ' (' + iso + ')',
                       text: shortTime(date)});
  }

  // ---- what a message's state means, in support's words ----------------------

  function channelWord(m) {
    return m.kind === 'email' ? t('word.email') : t('word.sms');
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

  // Refused by tack itself at intake: failed, and no provider ever saw it.
  function refusedByTack(m) {
    if (typeof m.refused_by_tack === 'boolean') return m.refused_by_tack;
    return m.state === 'failed' && !(Array.isArray(m.attempt_log) && m.attempt_log.length);
  }

  // {tone, label, note, due, problem, waiting} of a message, from STATES.
  function stateInfo(m) {
    const key = m.state === 'failed' && refusedByTack(m) ? 'refused'
              : STATES[m.state] ? m.state : 'unknown';
    const row = STATES[key];
    const words = row[lang] || row.en;
    const pick = (entry) => entry && typeof entry === 'object' && (entry.sms || entry.email)
      ? entry[m.kind === 'email' ? 'email' : 'sms'] : entry;
    const params = {n: m.state === 'dead' ? gaveUpAfter(m) : 0, state: m.state,
                    reason: m.last_error || t('no.reason')};
    const label = fill(form(pick(words.label), params.n), params);
    return {tone: row.tone, label, note: words.note ? fill(pick(words.note), params) : '',
            due: !!row.due, problem: !!row.problem, waiting: !!row.waiting};
  }

  function outcomeInfo(outcome) {
    // Accepted by the provider is not delivered: neutral, like a sent message.
    const tones = {sent: 'neutral', retry: 'wait', rejected: 'bad', unknown: 'wait', interrupted: 'wait'};
    if (!tones[outcome]) return {tone: 'off', label: String(outcome || '?')};
    return {tone: tones[outcome], label: t('outcome.' + outcome)};
  }

  const PROBLEM_STATES = new Set(['failed', 'dead', 'expired', 'undelivered', 'bounced']);

  // An accepted event's badge: red when one of its messages failed, amber
  // while one waits or is held, grey when none went out (cancelled,
  // skipped, not needed), green when they went their way.
  function verdictInfo(e, messages) {
    switch (e.verdict) {
      case 'accepted': {
        if (!messages.length) return {tone: 'off', label: t('verdict.none')};
        const failed = messages.filter((m) => PROBLEM_STATES.has(m.state)).length;
        if (failed) return {tone: 'bad', label: t('verdict.failed', {n: messages.length, f: failed})};
        const waiting = messages.some((m) => stateInfo(m).waiting);
        const wentOut = messages.some((m) => m.state === 'sent' || m.state === 'delivered');
        return {tone: waiting ? 'wait' : wentOut ? 'good' : 'off', label: t('n.messages', {n: messages.length})};
      }
      case 'duplicate':
        return {tone: 'off', label: t('verdict.duplicate')};
      case 'stale':
        return {tone: 'off', label: t('verdict.stale')};
      case 'rejected':
        return {tone: 'bad', label: t('verdict.rejected', {reason: e.reason || t('no.reason')})};
      default:
        return {tone: 'off', label: String(e.verdict || '?')};
    }
  }

  // A badge: a CSS-drawn mark (its shape differs by tone, for anyone who
  // cannot tell the colours) and words. No symbol characters: Debian's
  // default fonts cannot draw them all.
  function badge(tone, label, extraClass) {
    return el('span', {class: 'badge tone-' + tone + (extraClass ? ' ' + extraClass : '')},
              el('span', {class: 'badge-mark', 'aria-hidden': 'true'}),
              el('span', {class: 'badge-label', text: label}));
  }

  // "out_for_delivery" -> "Out for delivery"
  function humanize(word) {
    const s = String(word || '').replace(/[_-]+/g, ' ').trim();
    return s ? s.charAt(0).toUpperCase() + s.slice(1) : '';
  }

  // ---- the API -----------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // Request URLs are built on location.origin: a page opened as
  // http://user:pass@host/ has the credentials in its own address, and
  // fetch() refuses a URL that carries them.
  function apiUrl(path) {
    return new URL(path, location.origin).href;
  }

  async function api(method, path, body) {
    let response;
    const headers = {'Accept': 'application/json'};
    // X-Tack-Request: the proof that a verb comes from this page, which
    // a form on another site cannot send (docs/http-api.md).
    if (method !== 'GET') headers['X-Tack-Request'] = '1';
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    try {
      response = await fetch(apiUrl(path), {
        method, credentials: 'same-origin', cache: 'no-store', headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(0, t('err.unreachable'));
    }
    const text = await response.text();
    let answer = null;
    try {
      answer = text ? JSON.parse(text) : null;
    } catch (err) {
      answer = null;
    }
    if (response.status === 401) {
      throw new ApiError(401, answer && answer.code === 'no_users' ? t('err.no_users') : t('err.password'));
    }
    if (!response.ok) {
      const said = answer && typeof answer.error === 'string' && answer.error ? answer.error : '';
      throw new ApiError(response.status, said || t('err.status', {status: response.status}));
    }
    if (answer === null || typeof answer !== 'object') {
      throw new ApiError(response.status, t('err.unreadable'));
    }
    setShopZone(answer.timezone);
    return answer;
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

  // The page's fixed texts (index.html marks them data-words="key").
  function translateStatic() {
    document.documentElement.lang = lang;
    document.title = t('page.title');
    for (const node of document.querySelectorAll('[data-words]')) {
      node.textContent = t(node.getAttribute('data-words'));
    }
    for (const button of document.querySelectorAll('#languages button')) {
      button.setAttribute('aria-pressed', String(button.value === lang));
    }
  }

  // The language switch: one button per language, each in its own words.
  function buildLanguageSwitch() {
    const box = document.getElementById('languages');
    for (const [code, name] of Object.entries(LANGUAGES)) {
      box.append(el('button', {type: 'button', class: 'lang-button', value: code, lang: code, text: name,
                               on: {click: () => chooseLanguage(code)}}));
    }
  }

  function chooseLanguage(code) {
    if (!WORDS[code]) return;
    try {
      localStorage.setItem(LANGUAGE_KEY, code);
    } catch (err) {
      // not remembered, but still switched
    }
    lang = code;
    plurals = new Intl.PluralRules(DATE_LOCALES[lang]);
    formats = null;
    translateStatic();
    route();
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
      setStatus(t('search.empty'), 'bad');
      searchInput.focus();
      return;
    }
    go({q: query});
  });

  window.addEventListener('hashchange', route);

  function showError(err, what) {
    results.replaceChildren(el('p', {class: 'notice bad', role: 'alert', text: err.message}));
    setStatus(what || '', 'bad');
  }

  async function runSearch(query) {
    const ticket = ++navigation;
    const kind = classify(query);
    setStatus(t('searching'));
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
            results.replaceChildren(el('p', {class: 'notice', text: t('no.order.hint', {id: query})}));
            setStatus(t('no.order.status'));
            return;
          }
        }
      }
      await searchRecipient(query, kind, ticket);
    } catch (err) {
      if (ticket === navigation) showError(err, t('failed.search'));
    } finally {
      if (ticket === navigation) results.removeAttribute('aria-busy');
    }
  }

  // ---- orders of one recipient ------------------------------------------------------
  // The messages to the number or address, grouped by order; each order's
  // other messages (the e-mails beside the SMS, and the other way round)
  // and its customer's name come from the order itself, for the newest
  // MAX_ORDERS_EXPANDED orders.

  const MAX_ORDERS_EXPANDED = 20;

  async function searchRecipient(query, kind, ticket) {
    const first = await api('GET', '/v1/messages?' + new URLSearchParams({to: query, limit: '200'}));
    if (ticket !== navigation) return;
    const messages = Array.isArray(first.messages) ? first.messages.slice() : [];
    let next = typeof first.next === 'string' ? first.next : null;
    const orders = new Map();  // order id -> its timeline, once loaded

    const expand = async () => {
      const ids = [...new Set(messages.map((m) => m.order_id))]
        .filter((id) => !orders.has(id)).slice(0, Math.max(0, MAX_ORDERS_EXPANDED - orders.size));
      const loaded = await Promise.all(ids.map((id) =>
        api('GET', '/v1/orders/' + encodeURIComponent(id)).catch(() => null)));
      ids.forEach((id, i) => orders.set(id, loaded[i]));
    };

    const section = el('section', {class: 'recipient', 'aria-labelledby': 'recipient-title'});
    const render = () => {
      section.replaceChildren(...recipientView(query, kind, messages, orders, next, loadMore));
    };
    const loadMore = async (button) => {
      button.disabled = true;
      button.textContent = t('loading');
      try {
        // Only a same-origin API path is followed.
        if (!next.startsWith('/v1/messages?')) throw new ApiError(0, t('odd.next'));
        const page = await api('GET', next);
        if (ticket !== navigation) return;
        if (Array.isArray(page.messages)) messages.push(...page.messages);
        next = typeof page.next === 'string' ? page.next : null;
        await expand();
        if (ticket !== navigation) return;
        render();
        setStatus(t('loaded.older'));
      } catch (err) {
        button.disabled = false;
        button.textContent = t('older');
        setStatus(err.message, 'bad');
      }
    };
    await expand();
    if (ticket !== navigation) return;
    render();
    results.replaceChildren(section);
    const count = new Set(messages.map((m) => m.order_id)).size;
    setStatus(messages.length ? t('found.orders', {n: count}) : t('nothing.found'));
    focusHeading(section);
  }

  function customerName(order) {
    const events = order && Array.isArray(order.events) ? order.events : [];
    for (let i = events.length - 1; i >= 0; i--) {
      if (typeof events[i].customer_name === 'string' && events[i].customer_name) return events[i].customer_name;
    }
    return '';
  }

  function recipientView(query, kind, messages, orders, next, loadMore) {
    const nodes = [];
    const shown = messages.length ? messages[0].to : query;
    nodes.push(el('h2', {id: 'recipient-title', class: 'view-title', tabindex: '-1'},
                  t('messages.to'), el('span', {class: 'recipient-address', text: shown})));
    if (!messages.length) {
      const what = kind === 'email' ? t('what.email') : kind === 'order-or-phone' ? t('what.either')
                 : t('what.phone');
      nodes.push(el('p', {class: 'notice', text: t('sent.nothing', {what})}));
      return nodes;
    }
    // Messages come newest first: the first one of each order is its newest.
    const groups = new Map();
    for (const m of messages) {
      if (!groups.has(m.order_id)) groups.set(m.order_id, []);
      groups.get(m.order_id).push(m);
    }
    nodes.push(el('p', {class: 'view-sub', text: t('orders.sub', {n: groups.size})}));
    const list = el('ol', {class: 'order-list'});
    for (const [orderId, matched] of groups) {
      const order = orders.get(orderId);
      // All the order's messages, newest first, when the order is loaded.
      const group = order && Array.isArray(order.messages) && order.messages.length
        ? order.messages.slice().sort((a, b) => b.id - a.id) : matched;
      const newest = group[0];
      const name = customerName(order);
      const items = el('ul', {class: 'order-card-messages'});
      for (const m of group) {
        const info = stateInfo(m);
        items.append(el('li', {class: 'order-card-message'},
          el('span', {class: 'channel'}, icon(m.kind), channelWord(m)),
          el('span', {class: 'address', text: m.to}),
          badge(info.tone, info.label),
          timeNode(m.created_at, false),
          el('span', {class: 'excerpt', text: m.subject || m.text || ''})));
      }
      list.append(el('li', {class: 'order-card'},
        el('h3', {class: 'order-card-title'},
          el('a', {href: '#' + new URLSearchParams({order: orderId}), class: 'order-link'},
             t('order.link'), el('span', {text: orderId}))),
        name ? el('p', {class: 'customer-name'}, el('span', {class: 'label', text: t('customer')}),
                  el('strong', {class: 'customer', text: name})) : null,
        el('p', {class: 'order-card-sub'}, t('n.messages', {n: group.length}) + t('latest'),
           timeNode(newest.created_at, true)),
        items));
    }
    nodes.push(list);
    if (next) {
      const more = el('button', {type: 'button', class: 'button', text: t('older')});
      more.addEventListener('click', () => loadMore(more));
      nodes.push(el('p', {class: 'more'}, more));
    }
    return nodes;
  }

  // ---- one order ---------------------------------------------------------------------

  async function showOrder(id, options) {
    clearTimeout(refreshTimer);
    const ticket = ++navigation;
    if (!options.quiet) setStatus(t('loading.order', {id}));
    results.setAttribute('aria-busy', 'true');
    try {
      const order = await api('GET', '/v1/orders/' + encodeURIComponent(id));
      if (ticket !== navigation) return;
      renderOrder(order, options);
    } catch (err) {
      if (ticket !== navigation) return;
      if (options.quiet && err.status !== 404 && err.status !== 401) {
        // A failed background refresh keeps what is on screen.
        setStatus(t('refresh.failed', {error: err.message}), 'bad');
        scheduleRefresh(id, 15000);
        return;
      }
      if (err.status === 404) {
        results.replaceChildren(el('p', {class: 'notice', text: t('no.order', {id})}));
        setStatus(t('no.order.status'));
      } else {
        showError(err, t('failed.order'));
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
    if (!options.quiet) setStatus(t('showing.order', {id: order.order_id}));
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

  // The parcels of a split shipment: events of one status (two "shipped",
  // say) that carry different tracking URLs. A Map "status url" -> parcel
  // number (1, 2, ...) and its size; empty when no status has two parcels.
  function parcels(events) {
    const byStatus = new Map();
    for (const e of events) {
      const url = typeof e.tracking_url === 'string' ? e.tracking_url : '';
      if (e.verdict === 'rejected' || !url) continue;
      if (!byStatus.has(e.status)) byStatus.set(e.status, []);
      const urls = byStatus.get(e.status);
      if (!urls.includes(url)) urls.push(url);
    }
    const out = new Map();
    out.count = 0;
    for (const [status, urls] of byStatus) {
      if (urls.length < 2) continue;
      urls.forEach((url, i) => out.set(status + ' ' + url, i + 1));
      out.count = Math.max(out.count, urls.length);
    }
    return out;
  }

  // "1 SMS failed, 1 e-mail sent, 1 message held" / "..., nothing waiting"
  function summaryLine(messages, next) {
    const counts = new Map();
    for (const m of messages) {
      const group = SUMMARY_GROUP[m.state] || 'not_sent';
      const kind = m.kind === 'email' ? 'email' : 'sms';
      const key = group + '.' + kind;
      counts.set(key, (counts.get(key) || 0) + 1);
    }
    const parts = [];
    for (const group of SUMMARY_ORDER) {
      for (const kind of ['sms', 'email']) {
        const n = counts.get(group + '.' + kind);
        if (n) parts.push(t('sum.' + group, {n, noun: t('noun.' + kind, {n})}));
      }
    }
    const waiting = messages.some((m) => ['waiting', 'scheduled'].includes(SUMMARY_GROUP[m.state]));
    const held = messages.some((m) => m.state === 'held');
    if (!parts.length) parts.push(t('sum.none'));
    if (!waiting && !held && !next) parts.push(t('nothing.waiting'));
    const text = parts.join(', ');
    const tone = counts.has('failed.sms') || counts.has('failed.email') ? 'bad' : held || waiting ? 'wait' : 'plain';
    return el('p', {class: 'order-summary tone-' + tone, text: text.charAt(0).toUpperCase() + text.slice(1)});
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
    const name = customerName(order);
    const parcelOf = parcels(events);

    const head = el('header', {class: 'order-head'},
      el('h2', {class: 'view-title', id: 'order-title', tabindex: '-1'},
        t('order'), el('span', {class: 'order-id', text: order.order_id})),
      name ? el('p', {class: 'customer-name'}, el('span', {class: 'label', text: t('customer')}),
                el('strong', {class: 'customer', text: name})) : null,
      el('p', {class: 'order-status'}, t('order.status'),
        el('strong', {text: humanize(order.status) || t('unknown')})),
      parcelOf.count ? el('p', {class: 'split-shipment', text: t('split', {n: parcelOf.count})}) : null,
      summaryLine(messages, next),
      next ? nextContactLine(next, messages) : null,
      el('p', {class: 'order-tools'},
        el('button', {type: 'button', class: 'button small', id: 'refresh', text: t('refresh'),
                      on: {click: () => showOrder(order.order_id, {quiet: false})}}),
        el('button', {type: 'button', class: 'button small', id: 'contact-order', text: t('verb.contact'),
                      on: {click: () => openForm('contact', {order})}}),
        el('button', {type: 'button', class: 'button small', id: 'note-order', text: t('verb.note'),
                      on: {click: () => openForm('note', {order})}}),
        el('span', {class: 'updated'}, t('updated'), timeNode(new Date().toISOString(), false))),
      shopZone ? el('p', {class: 'zone muted', text: t('times.in', {zone: shopZone})}) : null);

    const timeline = el('ol', {class: 'timeline', 'aria-label': t('what.happened')});
    const shownEvents = new Set();
    for (const e of events) {
      shownEvents.add(e.event_id);
      timeline.append(eventItem(e, byEvent.get(e.event_id) || [], auditByMessage, nextId, parcelOf));
    }
    // Messages whose event is not listed (should not happen) are shown anyway.
    const orphans = messages.filter((m) => !shownEvents.has(m.event_id));
    if (orphans.length) {
      timeline.append(el('li', {class: 'event'},
        el('div', {class: 'event-head'}, el('h3', {class: 'event-title', text: t('other.messages')})),
        messageList(orphans, auditByMessage, nextId)));
    }
    if (!events.length && !messages.length) {
      timeline.append(el('li', {class: 'event'}, el('p', {text: t('no.events')})));
    }

    const section = el('section', {class: 'order', 'aria-labelledby': 'order-title'}, head,
      el('h3', {class: 'section-title', text: t('what.happened')}), timeline);
    section.append(el('h3', {class: 'section-title', text: t('changes')}));
    if (audit.length) {
      const list = el('ul', {class: 'audit'});
      for (const a of audit) list.append(el('li', {class: a.action === 'note' ? 'note' : null}, auditLine(a, true)));
      section.append(list);
    } else {
      section.append(el('p', {class: 'muted', text: t('no.changes')}));
    }
    return section;
  }

  function nextContactLine(next, messages) {
    const m = messages.find((x) => x.id === next.message_id);
    const what = m ? channelWord(m) + ' ' + t('to') + m.to : '#' + next.message_id;
    const due = parseTime(next.due_at);
    if (m && m.state === 'scheduled' && due && due.getTime() > Date.now()) {
      // A follow-up or a promise watch, or a message held for quiet hours
      // (tackd's note says "held: quiet hours until ...").
      const quiet = /^held: quiet hours/.test(m.note || '');
      return el('p', {class: 'next-contact'}, el('span', {class: 'label', text: t(quiet ? 'next.quiet' : 'next.planned')}),
                dueNode(next.due_at), ': ',
                el('a', {href: '#msg-' + next.message_id, class: 'next-link', text: what, on: {click: jumpToMessage}}));
    }
    const line = el('p', {class: 'next-contact'}, el('span', {class: 'label', text: t('next.due')}),
                    el('a', {href: '#msg-' + next.message_id, class: 'next-link', text: what,
                             on: {click: jumpToMessage}}), ' ');
    if (due && due.getTime() <= Date.now()) {
      const since = timeNode(next.due_at, false);
      const [before, after] = t('due.now').split('{time}');
      line.append(before, since, after || '');
    } else {
      line.append(t('due.at'), timeNode(next.due_at, true));
    }
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

  function eventItem(e, messages, auditByMessage, nextId, parcelOf) {
    const verdict = verdictInfo(e, messages);
    const item = el('li', {class: 'event'});
    const parcel = parcelOf.get(e.status + ' ' + e.tracking_url);
    item.append(el('div', {class: 'event-head'},
      el('h3', {class: 'event-title', text: humanize(e.status)}),
      parcel ? el('span', {class: 'parcel', text: t('parcel', {i: parcel, n: parcelOf.count})}) : null,
      badge(verdict.tone, verdict.label, 'verdict')));
    item.append(el('p', {class: 'event-meta'},
      t('happened'), timeNode(e.occurred_at, true), t('received'), timeNode(e.received_at, false),
      e.source ? t('from', {source: e.source}) : '', t('event'), el('code', {text: e.event_id}),
      e.duplicates > 0 ? t('copies', {n: e.duplicates + 1}) : ''));
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
      el('span', {class: 'channel'}, icon(m.kind), el('span', {text: t('channel.' + (m.kind === 'email' ? 'email' : 'sms'))})),
      el('span', {class: 'recipient-to'}, t('to'), el('span', {class: 'address', text: m.to})),
      badge(info.tone, info.label, 'state')));

    const facts = el('div', {class: 'message-facts'});
    const note = typeof m.note === 'string' ? m.note : '';
    // A cancelled message's own note says who or what cancelled it.
    if (info.note && !(m.state === 'cancelled' && note)) facts.append(el('p', {class: 'state-note', text: info.note}));
    if (m.state === 'scheduled' && m.next_attempt_at) {
      facts.append(el('p', {class: 'due-line'}, el('span', {class: 'label', text: t('goes.out')}),
                      dueNode(m.next_attempt_at)));
    } else if (info.due && m.next_attempt_at) {
      facts.append(el('p', {}, t('next.try'), timeNode(m.next_attempt_at, true), isNext ? t('next.one') : ''));
    }
    if (note) {
      facts.append(el('p', {class: 'why'}, el('span', {class: 'label', text: t('why')}),
                      el('span', {class: 'why-text', text: note})));
    }
    if (info.problem && lastAnswer(m)) {
      facts.append(el('p', {class: 'last-answer'}, el('span', {class: 'label', text: t('last.answer')}),
                      el('q', {class: 'answer', text: lastAnswer(m)})));
    }
    append(facts, [receiptLine(m)]);
    append(card, [facts, contentBlock(m), attemptList(m, info)]);
    for (const a of audit) card.append(el('p', {class: 'message-audit'}, auditLine(a, false)));
    append(card, [actionButtons(m)]);
    card.append(el('p', {class: 'message-meta'},
      t('meta', {id: m.id, template: m.template || '?', locale: m.locale || '?', rule: m.rule || '?'}),
      timeNode(m.created_at, false), m.gateway ? t('meta.gateway', {gateway: m.gateway}) : ''));
    return card;
  }

  function receiptLine(m) {
    const receipts = Array.isArray(m.receipts) ? m.receipts : [];
    if (!receipts.length) {
      if (m.state === 'sent') {
        return el('p', {class: 'receipt muted', text: t(m.kind === 'email' ? 'no.receipt.email' : 'no.receipt.sms')});
      }
      return null;
    }
    // The send the provider took, then each of its receipts, oldest first:
    // "Accepted by sms-46elks 10:02:11 → Delivered to the phone 10:02:14".
    const list = el('ol', {class: 'receipts'});
    const attempts = Array.isArray(m.attempt_log) ? m.attempt_log : [];
    const accepted = attempts.filter((a) => a && a.outcome === 'sent').pop();
    if (accepted) {
      list.append(el('li', {}, t('receipt.accepted', {gateway: accepted.gateway || '?'}), ' ',
        timeNode(accepted.started_at, false)));
    }
    for (const r of receipts) {
      if (!r || typeof r !== 'object') continue;
      let words;
      if (r.kind === 'delivered') {
        words = stateInfo({state: 'delivered', kind: m.kind, attempt_log: [{}]}).label;
      } else if (r.kind === 'undelivered' || r.kind === 'bounced') {
        words = t('receipt.' + r.kind);
      } else {
        words = t('receipt.progress', {status: r.status || '?'});
      }
      const why = [r.kind === 'delivered' || r.kind === 'progress' ? '' : r.status, r.reason]
        .filter((x) => x).join(': ');
      list.append(el('li', {class: 'receipt-' + (r.kind || 'progress')},
        el('strong', {text: words}), ' ', r.at ? timeNode(r.at, false) : null,
        why ? el('span', {class: 'answer', text: ' · ' + why}) : null));
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

  // A <details> whose open state survives the view's refreshes.
  function remembered(details, key, onOpen) {
    details.addEventListener('toggle', () => {
      if (details.open) openDetails.add(key); else openDetails.delete(key);
      if (details.open && onOpen) onOpen();
    });
    if (openDetails.has(key)) {
      details.open = true;
      if (onOpen) onOpen();
    }
    return details;
  }

  // E-mail bodies longer than this many lines fold to their first lines.
  const LONG_TEXT_LINES = 8;

  function contentBlock(m) {
    const block = el('div', {class: 'content'});
    // A follow-up is written when it goes (with the order as it is then).
    if (m.state === 'scheduled' && !m.text && !m.html && !m.subject) {
      block.append(el('p', {class: 'not-written muted', text: t('not.written')}));
      return block;
    }
    if (m.kind === 'email' || m.subject) {
      block.append(el('p', {class: 'subject'}, el('span', {class: 'label', text: t('subject')}),
                      el('span', {class: 'subject-text', text: m.subject || t('no.subject')})));
    }
    const text = m.text || '';
    const lines = text.split('\n');
    if (m.kind === 'email' && lines.length > LONG_TEXT_LINES) {
      // Folded: its first lines, and the whole text a click away.
      block.append(remembered(el('details', {class: 'long-text'},
        el('summary', {},
          el('span', {class: 'text-start', 'aria-hidden': 'true', text: lines.slice(0, 3).join('\n') + '\n…'}),
          el('span', {class: 'show-all', text: t('show.text', {n: lines.length})})),
        el('div', {class: 'text', text})), 'text-' + m.id));
    } else if (text) {
      block.append(el('div', {class: 'text', text}));
    }
    if (m.html) {
      const details = el('details', {class: 'html-preview'}, el('summary', {text: t('show.html')}));
      // Created only when opened: the untrusted HTML runs in an iframe with
      // every sandbox restriction (no scripts, no same origin, no forms).
      // The page's Content-Security-Policy applies inside too, so the
      // e-mail's inline styles and remote images stay off.
      const show = () => {
        if (details.querySelector('iframe')) return;
        const frame = el('iframe', {sandbox: '', title: t('html.title'), class: 'html-frame',
                                    referrerpolicy: 'no-referrer'});
        details.append(el('p', {class: 'muted small', text: t('html.note')}));
        frame.srcdoc = withWebLinksOnly(m.html);
        details.append(frame);
      };
      block.append(remembered(details, 'html-' + m.id, show));
    }
    return block;
  }

  function attemptList(m, info) {
    const attempts = Array.isArray(m.attempt_log) ? m.attempt_log : [];
    const wrap = el('div', {class: 'attempts'});
    if (!attempts.length) {
      // "Not tried yet" only when an attempt will come.
      if (info.waiting) wrap.append(el('p', {class: 'muted', text: t('not.tried')}));
      else if (m.state !== 'standby') wrap.append(el('p', {class: 'muted', text: t('never.sent')}));
      return wrap.childNodes.length ? wrap : null;
    }
    wrap.append(el('h4', {class: 'attempts-title', text: t('n.attempts', {n: attempts.length})}));
    const item = (a) => {
      const outcome = outcomeInfo(a.outcome);
      return el('li', {class: 'attempt'},
        el('div', {class: 'attempt-head'},
          el('span', {class: 'attempt-number', text: '#' + a.number}),
          timeNode(a.started_at, false),
          el('span', {class: 'attempt-gateway', text: t('via', {gateway: a.gateway})}),
          el('span', {class: 'outcome tone-' + outcome.tone, text: outcome.label})),
        a.detail ? el('p', {class: 'attempt-answer'}, el('span', {class: 'label', text: t('answer')}),
                      el('code', {class: 'answer', text: a.detail})) : null,
        el('p', {class: 'attempt-meta'},
          a.provider_id ? el('span', {}, t('provider.id'), el('code', {text: a.provider_id}), ' · ') : null,
          t('took', {ms: Number.isFinite(a.duration_ms) ? a.duration_ms : '?'})));
    };
    // Many attempts: the last three stay in view, the earlier ones fold away.
    const keep = 3;
    if (attempts.length > keep + 1) {
      const earlier = el('details', {class: 'earlier'},
        el('summary', {text: t('earlier', {n: attempts.length - keep})}),
        el('ol', {class: 'attempt-list'}, attempts.slice(0, -keep).map(item)));
      wrap.append(remembered(earlier, 'attempts-' + m.id), el('ol', {class: 'attempt-list'}, attempts.slice(-keep).map(item)));
    } else {
      wrap.append(el('ol', {class: 'attempt-list'}, attempts.map(item)));
    }
    return wrap;
  }

  // "anna (support page) retried this message · 22 Nov 2026, 14:05:12 CET"
  function auditLine(a, withTarget) {
    const actor = String(a.actor || t('someone'));
    const who = actor.startsWith('http:') ? t('support.page', {who: actor.slice(5)})
              : actor.startsWith('cli:') ? t('command.line', {who: actor.slice(4)}) : actor;
    if (a.action === 'note') {
      return el('span', {class: 'audit-line'}, el('strong', {text: who}), t('wrote.note'),
                el('q', {class: 'note-text', text: a.detail || ''}), ' · ', timeNode(a.at, true));
    }
    const known = ['retry', 'cancel', 'hold', 'release', 'resend', 'contact', 'send-now'].includes(a.action);
    const target = withTarget && a.target ? ' ' + a.target : a.action === 'contact' ? '' : t('this.message');
    // A verb's words may place the message inside them ("sent{target} at once").
    const words = known ? t('did.' + a.action) : humanize(a.action).toLowerCase();
    const did = words.includes('{target}') ? fill(words, {target}) : words + target;
    // tackd notes a message's move as "dead -> queued": say what it was.
    const move = /^([a-z_]+) -> [a-z_]+$/.exec(a.detail || '');
    let detail = a.detail ? ' (' + a.detail + ')' : '';
    if (move) {
      const was = STATES[move[1]] ? stateInfo({state: move[1], kind: 'sms', attempt_log: [{}]}).label : move[1];
      detail = t('it.was', {state: was.charAt(0).toLowerCase() + was.slice(1)});
    } else if (a.action === 'send-now' && /^[a-z_]+ -> due now$/.test(a.detail || '')) {
      detail = '';  // the words say it
    }
    return el('span', {class: 'audit-line'}, el('strong', {text: who}), ' ' + did, detail, ' · ',
              timeNode(a.at, true));
  }

  // ---- operator verbs ---------------------------------------------------------------
  // Which verbs a message offers comes from the API (its `actions`, from
  // daemon/store/lifecycle.hpp: a message tack refused itself offers no
  // retry); `resend` is offered for a message that got out. `send-now`: a
  // scheduled message goes at once instead of at its time.

  const VERBS = {
    retry: {states: ['failed', 'dead', 'retry_wait', 'held']},
    hold: {states: ['queued', 'retry_wait']},
    release: {states: ['held']},
    'send-now': {states: ['scheduled']},
    cancel: {states: ['queued', 'retry_wait', 'scheduled', 'held'], danger: true},
    resend: {states: ['sent', 'delivered', 'undelivered', 'bounced'], form: true},
  };

  function verbsOf(m) {
    const allowed = Array.isArray(m.actions) ? m.actions : null;
    return Object.keys(VERBS).filter((v) => {
      if (v === 'resend') return VERBS.resend.states.includes(m.state);
      return allowed ? allowed.includes(v) : VERBS[v].states.includes(m.state);
    });
  }

  function actionButtons(m) {
    const verbs = verbsOf(m);
    if (!verbs.length) return null;
    const row = el('div', {class: 'actions'});
    for (const verb of verbs) {
      const label = t('verb.' + verb);
      row.append(el('button', {
        type: 'button', class: 'button' + (VERBS[verb].danger ? ' danger' : ''), id: verb + '-' + m.id,
        'aria-label': t('verb.label', {verb: label, channel: channelWord(m), to: m.to}), text: label,
        on: {click: () => (VERBS[verb].form ? openForm(verb, {message: m}) : confirmVerb(verb, m))},
      }));
    }
    return row;
  }

  const dialog = document.getElementById('confirm');
  const dialogTitle = document.getElementById('confirm-title');
  const dialogText = document.getElementById('confirm-text');
  const dialogFields = document.getElementById('confirm-fields');
  const dialogError = document.getElementById('confirm-error');
  const dialogYes = document.getElementById('confirm-yes');
  const dialogNo = document.getElementById('confirm-no');
  const dialogForm = document.getElementById('confirm-form');
  // While the dialog is open: {title, run(values), done(answer), fields, focusId}
  let pending = null;

  function openDialog(spec) {
    pending = Object.assign({opener: document.activeElement}, spec);
    dialogTitle.textContent = spec.title;
    dialogText.textContent = spec.text;
    dialogFields.replaceChildren();
    for (const field of spec.fields || []) {
      const input = el(field.multiline ? 'textarea' : 'input', {
        id: 'field-' + field.name, name: field.name, class: 'field-input', maxlength: '1000',
        type: field.multiline ? null : field.type || 'text', rows: field.multiline ? '3' : null,
        autocomplete: 'off', required: field.required ? true : null});
      dialogFields.append(el('p', {class: 'field'},
        el('label', {for: 'field-' + field.name, class: 'field-label', text: field.label}), input));
    }
    dialogFields.hidden = !(spec.fields && spec.fields.length);
    dialogError.hidden = true;
    dialogError.textContent = '';
    dialogYes.textContent = spec.yes;
    dialogYes.hidden = false;
    dialogYes.disabled = false;
    dialogYes.className = 'button primary' + (spec.danger ? ' danger' : '');
    dialogNo.textContent = spec.no || t('go.back');
    dialog.showModal();
    const firstField = dialogFields.querySelector('input, textarea');
    (firstField || dialogNo).focus();
  }

  function confirmVerb(verb, m) {
    const params = {channel: channelWord(m), to: m.to};
    openDialog({
      title: t(verb + '.title', params), text: t(verb + '.text', params),
      yes: verb === 'cancel' ? t('cancel.yes') : t('verb.' + verb),
      no: verb === 'cancel' ? t('cancel.no') : t('go.back'), danger: verb === 'cancel',
      orderId: m.order_id, focusId: 'msg-' + m.id,
      run: () => api('POST', '/v1/messages/' + encodeURIComponent(m.id) + '/' + verb),
      done: () => t('done.' + verb, params),
    });
  }

  // The support actions that take words: resend, contact, note.
  function openForm(kind, {message, order}) {
    if (kind === 'resend') {
      const params = {channel: channelWord(message), to: message.to};
      openDialog({
        title: t('resend.title', params), text: t('resend.text'), yes: t('verb.resend'),
        fields: [{name: 'reason', label: t('field.reason'), required: true, multiline: true}],
        orderId: message.order_id, focusId: 'msg-' + message.id,
        check: (v) => (v.reason ? '' : t('need.reason')),
        run: (v) => api('POST', '/v1/messages/' + encodeURIComponent(message.id) + '/resend', {reason: v.reason}),
        done: () => t('done.resend', params),
      });
    } else if (kind === 'contact') {
      openDialog({
        title: t('contact.title', {id: order.order_id}), text: t('contact.text'), yes: t('save.contact'),
        fields: [{name: 'phone', label: t('field.phone'), type: 'tel'},
                 {name: 'email', label: t('field.email'), type: 'email'},
                 {name: 'reason', label: t('field.reason'), required: true, multiline: true}],
        orderId: order.order_id, focusId: 'contact-order',
        check: (v) => (!v.phone && !v.email ? t('need.contact') : !v.reason ? t('need.reason') : ''),
        run: (v) => {
          const body = {reason: v.reason};
          if (v.phone) body.phone = v.phone;
          if (v.email) body.email = v.email;
          return api('POST', '/v1/orders/' + encodeURIComponent(order.order_id) + '/contact', body);
        },
        done: (answer) => t('done.contact', {n: answer && Array.isArray(answer.resent) ? answer.resent.length : 0}),
      });
    } else {
      openDialog({
        title: t('note.title', {id: order.order_id}), text: t('note.text'), yes: t('save.note'),
        fields: [{name: 'text', label: t('field.note'), required: true, multiline: true}],
        orderId: order.order_id, focusId: 'note-order',
        check: (v) => (v.text ? '' : t('need.note')),
        run: (v) => api('POST', '/v1/orders/' + encodeURIComponent(order.order_id) + '/notes', {text: v.text}),
        done: () => t('done.note'),
      });
    }
  }

  function showDialogError(text, final) {
    dialogError.textContent = text;
    dialogError.hidden = false;
    if (final) {
      dialogYes.hidden = true;
      dialogNo.textContent = t('close');
      dialogNo.focus();
    }
  }

  dialogNo.addEventListener('click', () => dialog.close());

  dialog.addEventListener('close', () => {
    const opener = pending && pending.opener;
    pending = null;
    // The refresh may have replaced the button that opened the dialog.
    const target = opener && opener.id ? document.getElementById(opener.id) : null;
    if (target) target.focus();
  });

  dialogForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!pending || dialogYes.hidden) return;
    const spec = pending;
    const values = {};
    for (const input of dialogFields.querySelectorAll('input, textarea')) values[input.name] = input.value.trim();
    const problem = spec.check ? spec.check(values) : '';
    if (problem) {
      showDialogError(problem, false);
      return;
    }
    dialogYes.disabled = true;
    dialogYes.textContent = t('working');
    try {
      const answer = await spec.run(values);
      dialog.close();
      setStatus(spec.done(answer), 'good');
    } catch (err) {
      // 409: the verb no longer applies (sent meanwhile, being sent now);
      // 400: tackd says what is wrong with what was typed; 404 on a form's
      // address: this tackd does not have the action yet.
      if (err.status === 400) {
        dialogYes.disabled = false;
        dialogYes.textContent = spec.yes;
        showDialogError(err.message, false);
      } else {
        const missing = err.status === 404 && spec.fields && /no such API path/.test(err.message);
        showDialogError(missing ? t('err.missing')
                        : [409, 404, 401, 0].includes(err.status) ? err.message
                        : t('err.failed', {error: err.message}), true);
      }
    }
    if (current) showOrder(spec.orderId, {quiet: true, focusId: spec.focusId});
  });

  // ---- start ---------------------------------------------------------------------------

  buildLanguageSwitch();
  translateStatic();
  route();
  if (!readHash()) searchInput.focus();
})();

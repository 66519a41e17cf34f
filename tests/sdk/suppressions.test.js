// The official Cloudflare TypeScript SDK (npm `cloudflare`, pinned 7.3.0)
// on pigeon's suppression list (SPEC §8.1):
// client.emailSending.suppressions.create / list / get / edit / delete /
// import (POST …/suppressions/bulk), auto-pagination with `for await`, and
// the SDK's typed errors.  Needs what email-sending.test.js needs (run.sh);
// PIGEON_READ_TOKEN, a token without manage, for the permission test.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const Cloudflare = require('cloudflare');
const { rejects } = require('./errors');

const ACCOUNT = process.env.CLOUDFLARE_ACCOUNT_ID;

for (const k of ['CLOUDFLARE_BASE_URL', 'CLOUDFLARE_API_TOKEN',
  'CLOUDFLARE_ACCOUNT_ID']) {
  if (!process.env[k]) throw new Error(`${k} is not set (see run.sh)`);
}

// maxRetries 0: a 4xx must surface at once; the SDK would retry 5xx/429.
const client = new Cloudflare({ maxRetries: 0, timeout: 30000 });
const supp = client.emailSending.suppressions;

const rand = () => crypto.randomBytes(4).toString('hex');

test('suppressions: create, get, edit, delete', async () => {
  const email = `sdk-supp-${rand()}@example.net`;
  const made = await supp.create({ account_id: ACCOUNT, email,
    note: 'from the SDK' });
  assert.match(made.id, /^[0-9a-f]{32}$/);
  assert.deepEqual(made.scope, { type: 'account' });
  const again = await supp.create({ account_id: ACCOUNT, email });
  assert.equal(again.id, made.id, 'create is idempotent');

  const got = await supp.get(made.id, { account_id: ACCOUNT });
  assert.equal(got.email, email);
  assert.equal(got.reason, 'manual');
  assert.equal(got.read_only, false);
  assert.equal(got.note, 'from the SDK');
  assert.equal(got.expires_at, null);

  const when = new Date(Date.now() + 86400e3);
  when.setUTCMilliseconds(0);
  const edited = await supp.edit(made.id, { account_id: ACCOUNT,
    expires_at: when.toISOString(), note: 'edited' });
  assert.equal(new Date(edited.expires_at).getTime(), when.getTime());
  assert.equal(edited.note, 'edited');

  // a send to it is refused, naming it
  const err = await rejects(client.emailSending.send({ account_id: ACCOUNT,
    from: 'sender@example.com', to: email, subject: 's', text: 't' }),
  Cloudflare.BadRequestError, 400, 10202);
  assert.match(JSON.stringify(err.error), new RegExp(email));

  const del = await supp.delete(made.id, { account_id: ACCOUNT });
  assert.deepEqual(del, { id: made.id, scope: { type: 'account' } });
  await rejects(supp.get(made.id, { account_id: ACCOUNT }),
    Cloudflare.NotFoundError, 404, 10000);
  const sent = await client.emailSending.send({ account_id: ACCOUNT,
    from: 'sender@example.com', to: email, subject: 's', text: 't' });
  assert.deepEqual(sent.delivered, [email]);
});

test('suppressions: a sending_domain scope', async () => {
  const email = `sdk-dom-${rand()}@example.net`;
  const made = await supp.create({ account_id: ACCOUNT, email,
    scope: { type: 'sending_domain', value: 'example.com' } });
  assert.deepEqual(made.scope, { type: 'sending_domain',
    value: 'example.com' });
  const page = await supp.list({ account_id: ACCOUNT, email,
    scope_type: 'sending_domain', scope_value: 'example.com' });
  assert.deepEqual(page.result.map((e) => e.id), [made.id]);
  await supp.delete(made.id, { account_id: ACCOUNT });
});

test('suppressions: import (bulk) and auto-pagination', async () => {
  const tag = `sdk-pg-${rand()}`;
  const want = Array.from({ length: 23 }, (_, i) =>
    `${tag}-${i}@example.net`);
  const r = await supp.import({ account_id: ACCOUNT,
    items: [...want.map((email) => ({ email })), { email: want[0] },
      { email: 'not-an-address' }] });
  assert.equal(r.total, 25);
  assert.equal(r.processed, 23);
  assert.equal(r.deduplicated, 1);
  assert.equal(r.invalid, 1);
  assert.equal(r.skipped, 0);
  assert.equal(r.errors, 0);
  const bad = r.items.find((it) => it.index === 24);
  assert.equal(bad.status, 'invalid');
  assert.ok(bad.error.length > 0);

  // per_page 5: five pages, fetched by the SDK as it iterates
  const seen = [];
  for await (const e of supp.list({ account_id: ACCOUNT, search: tag,
    per_page: 5 })) {
    seen.push(e.email);
  }
  assert.deepEqual(seen.sort(), [...want].sort());
  const first = await supp.list({ account_id: ACCOUNT, search: tag,
    per_page: 5 });
  assert.equal(first.result.length, 5);
  assert.ok(first.hasNextPage());
  const pages = [];
  for await (const p of first.iterPages()) pages.push(p.result.length);
  assert.deepEqual(pages, [5, 5, 5, 5, 3]);
});

test('suppressions: typed errors on bad input', async () => {
  let err = await rejects(supp.create({ account_id: ACCOUNT, email: 5 }),
    Cloudflare.BadRequestError, 400, 10001);
  assert.equal(err.errors[0].source.pointer, '/email');
  await rejects(supp.create({ account_id: ACCOUNT, email: 'a@@b.example' }),
    Cloudflare.BadRequestError, 400, 10202);
  await rejects(supp.create({ account_id: ACCOUNT, email: 'a@b.example',
    expires_at: '2001-01-01T00:00:00Z' }),
  Cloudflare.BadRequestError, 400, 10001);
  const made = await supp.create({ account_id: ACCOUNT,
    email: `sdk-imm-${rand()}@example.net` });
  err = await rejects(supp.edit(made.id, { account_id: ACCOUNT,
    scope: { type: 'sending_domain', value: 'example.com' } }),
  Cloudflare.BadRequestError, 400, 10001);
  assert.equal(err.errors[0].source.pointer, '/scope');
  await rejects(supp.edit('0'.repeat(32), { account_id: ACCOUNT,
    note: 'x' }), Cloudflare.NotFoundError, 404, 10000);
  await rejects(supp.delete('0'.repeat(32), { account_id: ACCOUNT }),
    Cloudflare.NotFoundError, 404, 10000);
  await rejects(supp.list({ account_id: ACCOUNT, per_page: 5000 }),
    Cloudflare.BadRequestError, 400, 10001);
  await rejects(supp.import({ account_id: ACCOUNT,
    items: Array.from({ length: 1001 }, (_, i) =>
      ({ email: `x${i}@example.net` })) }),
  Cloudflare.BadRequestError, 400, 10001);
  await supp.delete(made.id, { account_id: ACCOUNT });
});

test('suppressions: PermissionDeniedError 10102', async () => {
  await rejects(supp.list({ account_id: 'f'.repeat(32) }),
    Cloudflare.PermissionDeniedError, 403, 10102);
  await rejects(supp.create({ account_id: 'f'.repeat(32),
    email: 'a@b.example' }), Cloudflare.PermissionDeniedError, 403, 10102);
  if (!process.env.PIGEON_READ_TOKEN) return;
  const ro = new Cloudflare({ maxRetries: 0, timeout: 30000,
    apiToken: process.env.PIGEON_READ_TOKEN });
  // read may list, not write
  await ro.emailSending.suppressions.list({ account_id: ACCOUNT });
  await rejects(ro.emailSending.suppressions.create({ account_id: ACCOUNT,
    email: `ro-${rand()}@example.net` }),
  Cloudflare.PermissionDeniedError, 403, 10102);
});

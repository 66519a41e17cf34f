// Sending subdomains (SPEC §8.2) through the official Cloudflare SDK
// (npm `cloudflare` 7.3.0, client.emailSending.subdomains and its .dns),
// against a running pigeon.  Needs what email-sending.test.js needs, and
// PIGEON_ZONE_ID, the id of the dev account's zone example.com (run.sh).
// Every subdomain made here is a fresh name under example.com.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const Cloudflare = require('cloudflare');
const { rejects } = require('./errors');

const ACCOUNT = process.env.CLOUDFLARE_ACCOUNT_ID;
const ZONE = process.env.PIGEON_ZONE_ID;

for (const k of ['CLOUDFLARE_BASE_URL', 'CLOUDFLARE_API_TOKEN',
  'CLOUDFLARE_ACCOUNT_ID', 'PIGEON_ZONE_ID']) {
  if (!process.env[k]) throw new Error(`${k} is not set (see run.sh)`);
}

// maxRetries 0: a 4xx must surface at once; the SDK would retry 5xx/429.
const client = new Cloudflare({ maxRetries: 0, timeout: 30000 });
const subdomains = client.emailSending.subdomains;
const rand = () => crypto.randomBytes(4).toString('hex');
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

function send(from) {
  return client.emailSending.send({
    account_id: ACCOUNT, from, to: `sdk-${rand()}@example.net`,
    subject: 'from a subdomain', text: 'x',
  });
}

test('subdomains: create, get, list, dns, edit, delete', async () => {
  const name = `sdk-${rand()}.example.com`;
  const made = await subdomains.create({ zone_id: ZONE, name });
  assert.equal(made.name, name);
  assert.match(made.tag, /^[0-9a-f]{32}$/);
  assert.equal(made.enabled, true);
  assert.equal(made.dkim_selector, 'pigeon');
  assert.equal(made.return_path_domain, `bounces.${name}`);
  assert.equal(made.drop_suppressed_recipients, false);
  assert.equal(made.preview_enabled, true);
  assert.match(made.created, ISO);
  assert.match(made.modified, ISO);

  const got = await subdomains.get(made.tag, { zone_id: ZONE });
  assert.deepEqual(got, made);

  const names = [];
  for await (const d of subdomains.list({ zone_id: ZONE })) {
    names.push(d.name);
    if (d.tag === made.tag) assert.deepEqual(d, made);
  }
  assert.ok(names.includes(name), `${name} listed in ${names}`);
  assert.ok(names.includes('example.com'), 'the dev domain is listed');

  const records = [];
  for await (const r of subdomains.dns.get(made.tag, { zone_id: ZONE })) {
    records.push(r);
  }
  const dkim = records.find((r) => r.name === `pigeon._domainkey.${name}`);
  assert.ok(dkim, JSON.stringify(records));
  assert.equal(dkim.type, 'TXT');
  assert.match(dkim.content, /^v=DKIM1; k=rsa; p=/);
  assert.equal(typeof dkim.ttl, 'number');

  // the new domain sends at once
  const sent = await send(`news@${name}`);
  assert.ok(sent.message_id.endsWith(`@${name}>`), sent.message_id);

  const edited = await subdomains.edit(made.tag, {
    zone_id: ZONE, preview_enabled: false, drop_suppressed_recipients: true,
  });
  assert.equal(edited.preview_enabled, false);
  assert.equal(edited.drop_suppressed_recipients, true);
  assert.equal(edited.enabled, true);
  assert.equal(edited.tag, made.tag);

  // `enabled` is not in the SDK's typed params, but its body passes it
  const off = await subdomains.edit(made.tag, { zone_id: ZONE, enabled: false });
  assert.equal(off.enabled, false);
  await rejects(send(`news@${name}`), Cloudflare.PermissionDeniedError,
    403, 10203);
  // create again re-enables it (the SDK's documented behaviour)
  const again = await subdomains.create({ zone_id: ZONE, name });
  assert.equal(again.tag, made.tag);
  assert.equal(again.enabled, true);

  const del = await subdomains.delete(made.tag, { zone_id: ZONE });
  assert.equal(del.success, true);
  assert.deepEqual(del.errors, []);
  await rejects(subdomains.get(made.tag, { zone_id: ZONE }),
    Cloudflare.NotFoundError, 404, 10000);
  await rejects(send(`news@${name}`), Cloudflare.PermissionDeniedError,
    403, 10204);
});

test('subdomains: BadRequestError 10001 on bad input', async () => {
  await rejects(subdomains.create({ zone_id: ZONE, name: 'mail.other.test' }),
    Cloudflare.BadRequestError, 400, 10001);
  await rejects(subdomains.create({ zone_id: ZONE, name: 'not a name' }),
    Cloudflare.BadRequestError, 400, 10001);
  await rejects(subdomains.create({ zone_id: ZONE, name: 42 }),
    Cloudflare.BadRequestError, 400, 10001);
  const made = await subdomains.create({
    zone_id: ZONE, name: `sdk-${rand()}.example.com`,
  });
  try {
    const e = await rejects(subdomains.edit(made.tag, {
      zone_id: ZONE, dkim_selector: 'other',
    }), Cloudflare.BadRequestError, 400, 10001);
    assert.equal(e.errors[0].source.pointer, '/dkim_selector');
    const t = await rejects(subdomains.edit(made.tag, {
      zone_id: ZONE, preview_enabled: 'no',
    }), Cloudflare.BadRequestError, 400, 10001);
    assert.equal(t.errors[0].source.pointer, '/preview_enabled');
  } finally {
    await subdomains.delete(made.tag, { zone_id: ZONE });
  }
});

test('subdomains: NotFoundError 10000 for an unknown id', async () => {
  const id = crypto.randomBytes(16).toString('hex');
  await rejects(subdomains.get(id, { zone_id: ZONE }),
    Cloudflare.NotFoundError, 404, 10000);
  await rejects(subdomains.edit(id, { zone_id: ZONE, enabled: true }),
    Cloudflare.NotFoundError, 404, 10000);
  await rejects(subdomains.delete(id, { zone_id: ZONE }),
    Cloudflare.NotFoundError, 404, 10000);
  await rejects((async () => {
    for await (const r of subdomains.dns.get(id, { zone_id: ZONE })) {
      assert.fail(`no record expected: ${JSON.stringify(r)}`);
    }
  })(), Cloudflare.NotFoundError, 404, 10000);
});

test('subdomains: PermissionDeniedError 10102', async () => {
  // a zone that is not the account's (unknown here): never revealed
  const zone = crypto.randomBytes(16).toString('hex');
  await rejects(subdomains.create({ zone_id: zone, name: 'a.example.com' }),
    Cloudflare.PermissionDeniedError, 403, 10102);
  await rejects((async () => {
    for await (const d of subdomains.list({ zone_id: zone })) {
      assert.fail(`nothing expected: ${JSON.stringify(d)}`);
    }
  })(), Cloudflare.PermissionDeniedError, 403, 10102);
});

test('subdomains: PermissionDeniedError 10102 for a read-only token',
  { skip: !process.env.PIGEON_READ_TOKEN && 'PIGEON_READ_TOKEN not set' },
  async () => {
    const ro = new Cloudflare({ maxRetries: 0, timeout: 30000,
      apiToken: process.env.PIGEON_READ_TOKEN });
    const names = [];
    for await (const d of ro.emailSending.subdomains.list({ zone_id: ZONE })) {
      names.push(d.name);
    }
    assert.ok(names.includes('example.com'));
    await rejects(ro.emailSending.subdomains.create({
      zone_id: ZONE, name: `ro-${rand()}.example.com`,
    }), Cloudflare.PermissionDeniedError, 403, 10102);
  });

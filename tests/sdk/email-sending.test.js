// The official Cloudflare TypeScript SDK (npm `cloudflare`, pinned 7.3.0)
// against a running pigeon.  Needs CLOUDFLARE_BASE_URL, CLOUDFLARE_API_TOKEN
// and CLOUDFLARE_ACCOUNT_ID (var/dev.env); run.sh sets them up.  Optional:
// PIGEON_READ_TOKEN, a token of the same account without the send
// permission.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const Cloudflare = require('cloudflare');
const { rejects } = require('./errors');

const ACCOUNT = process.env.CLOUDFLARE_ACCOUNT_ID;
const MSGID = /^<[A-Za-z0-9]{36}@example\.com>$/;

for (const k of ['CLOUDFLARE_BASE_URL', 'CLOUDFLARE_API_TOKEN',
  'CLOUDFLARE_ACCOUNT_ID']) {
  if (!process.env[k]) throw new Error(`${k} is not set (see run.sh)`);
}

// maxRetries 0: a 4xx must surface at once; the SDK would retry 5xx/429.
const client = new Cloudflare({ maxRetries: 0, timeout: 30000 });

function checkResult(r, recipients) {
  for (const k of ['delivered', 'permanent_bounces', 'queued',
    'suppressed_recipients']) {
    assert.ok(Array.isArray(r[k]), `${k} is an array`);
  }
  assert.match(r.message_id, MSGID);
  const all = [...r.delivered, ...r.permanent_bounces, ...r.queued,
    ...r.suppressed_recipients].sort();
  assert.deepEqual(all, [...recipients].sort());
}

const rand = () => crypto.randomBytes(4).toString('hex');

test('send: text, html, addr objects, attachment', async () => {
  const to = `sdk-${rand()}@example.net`;
  const r = await client.emailSending.send({
    account_id: ACCOUNT,
    from: { address: 'sender@example.com', name: 'SDK Sender' },
    to: [to, { address: `cc-${to}`, name: 'Jöhn Dœ' }],
    subject: 'Hello from the SDK — ✓',
    text: 'plain body',
    html: '<p>html body</p>',
    headers: { 'X-Campaign': 'sdk' },
    attachments: [{
      content: Buffer.from('hello attachment').toString('base64'),
      filename: 'hello.txt', type: 'text/plain', disposition: 'attachment',
    }],
  });
  checkResult(r, [to, `cc-${to}`]);
  assert.deepEqual(r.delivered.sort(), [to, `cc-${to}`].sort());
});

test('send: capture outcomes map to the three lists', async () => {
  const ok = `ok-${rand()}@example.net`;
  const bo = `bounce-${rand()}@example.net`;
  const r = await client.emailSending.send({
    account_id: ACCOUNT, from: 'sender@example.com', to: [ok, bo],
    subject: 'outcomes', text: 'x',
  });
  checkResult(r, [ok, bo]);
  assert.deepEqual(r.delivered, [ok]);
  assert.deepEqual(r.permanent_bounces, [bo]);
});

test('sendRaw: success', async () => {
  const to = `raw-${rand()}@example.net`;
  const r = await client.emailSending.sendRaw({
    account_id: ACCOUNT,
    from: 'sender@example.com',
    recipients: [to],
    mime_message: 'From: sender@example.com\r\nTo: ' + to +
      '\r\nSubject: Hello\r\nContent-Type: text/plain\r\n\r\nHello, World!',
  });
  checkResult(r, [to]);
});

test('send: withResponse exposes the raw envelope', async () => {
  const { data, response } = await client.emailSending.send({
    account_id: ACCOUNT, from: 'sender@example.com',
    to: 'env@example.net', subject: 's', text: 't',
  }).withResponse();
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type'), /^application\/json/);
  checkResult(data, ['env@example.net']);
});

test('BadRequestError 10001: "Name <addr>" string', async () => {
  const err = await rejects(client.emailSending.send({
    account_id: ACCOUNT, from: 'sender@example.com',
    to: 'Bob <bob@example.net>', subject: 's', text: 't',
  }), Cloudflare.BadRequestError, 400, 10001);
  assert.equal(err.errors[0].message,
    'email.sending.error.invalid_request_schema');
});

test('BadRequestError 10001: missing subject', async () => {
  await rejects(client.emailSending.send({
    account_id: ACCOUNT, from: 'sender@example.com', to: 'a@example.net',
    text: 't',
  }), Cloudflare.BadRequestError, 400, 10001);
});

test('BadRequestError 10202: bad address, header policy, raw', async () => {
  const err = await rejects(client.emailSending.send({
    account_id: ACCOUNT, from: 'sender@example.com',
    to: ['ok@example.net', 'bob@@example.net'], subject: 's', text: 't',
  }), Cloudflare.BadRequestError, 400, 10202);
  assert.equal(err.errors[0].message, 'email.sending.error.email.invalid');
  await rejects(client.emailSending.send({
    account_id: ACCOUNT, from: 'sender@example.com', to: 'a@example.net',
    subject: 's', text: 't', headers: { Date: 'Mon, 1 Jan 2024 00:00:00 +0000' },
  }), Cloudflare.BadRequestError, 400, 10202);
  await rejects(client.emailSending.sendRaw({
    account_id: ACCOUNT, from: 'sender@example.com',
    recipients: ['a@example.net'],
    mime_message: 'To: a@example.net\r\nSubject: no from\r\n\r\nx',
  }), Cloudflare.BadRequestError, 400, 10202);
});

test('AuthenticationError 10101: unknown token', async () => {
  const bad = new Cloudflare({ maxRetries: 0, apiToken: 'x'.repeat(40) });
  const err = await rejects(bad.emailSending.send({
    account_id: ACCOUNT, from: 'sender@example.com', to: 'a@example.net',
    subject: 's', text: 't',
  }), Cloudflare.AuthenticationError, 401, 10101);
  assert.equal(err.errors[0].message,
    'email.sending.error.authentication.unauthorized');
});

test('PermissionDeniedError 10102: another account id', async () => {
  await rejects(client.emailSending.send({
    account_id: crypto.randomBytes(16).toString('hex'),
    from: 'sender@example.com', to: 'a@example.net', subject: 's', text: 't',
  }), Cloudflare.PermissionDeniedError, 403, 10102);
});

test('PermissionDeniedError 10102: token without send',
  { skip: !process.env.PIGEON_READ_TOKEN && 'PIGEON_READ_TOKEN not set' },
  async () => {
    const ro = new Cloudflare({ maxRetries: 0,
      apiToken: process.env.PIGEON_READ_TOKEN });
    await rejects(ro.emailSending.sendRaw({
      account_id: ACCOUNT, from: 'sender@example.com',
      recipients: ['a@example.net'],
      mime_message: 'From: sender@example.com\r\n\r\nx',
    }), Cloudflare.PermissionDeniedError, 403, 10102);
  });

test('PermissionDeniedError 10204: sender domain not onboarded', async () => {
  const err = await rejects(client.emailSending.send({
    account_id: ACCOUNT, from: 'someone@not-onboarded.test',
    to: 'a@example.net', subject: 's', text: 't',
  }), Cloudflare.PermissionDeniedError, 403, 10204);
  assert.equal(err.errors[0].message,
    'email.sending.error.email.sender_not_configured');
  await rejects(client.emailSending.sendRaw({
    account_id: ACCOUNT, from: 'someone@not-onboarded.test',
    recipients: ['a@example.net'],
    mime_message: 'From: someone@not-onboarded.test\r\n\r\nx',
  }), Cloudflare.PermissionDeniedError, 403, 10204);
});

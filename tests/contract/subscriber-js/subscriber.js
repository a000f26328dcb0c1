#!/usr/bin/env node
// A subscriber that is not ours (#10 §2): it knows the events only from the published
// contract (the README, shared/contracts/asyncapi.yaml, the JSON Schemas in
// shared/contracts/schemas/) and shares no code with the services.
//
// It binds its own exclusive queue to the topic exchange isfahan.social.events with '#'
// (which the services declare: it only checks it, so an outside account that may read the
// exchange and configure its own ext.<system>.* queues is enough),
// parses every message as a structured-mode CloudEvent with the CloudEvents SDK, validates
// the envelope and `data` (against the JSON Schema the event's `type` names, with Ajv), and
// checks that ids are unique (a redelivered duplicate with the same id and body is counted,
// not an error), that `sequence` increases per source and per subject, and that the AMQP
// properties agree with the event. It stops after --max-events distinct events, after
// --idle-ms without a message (counted from the first one), after --timeout-ms, or on
// SIGTERM/SIGINT; then it prints one JSON summary line on stdout and exits 1 if anything
// was violated (0 otherwise, 2 if it could not run at all).
//
//   node subscriber.js --amqp amqp://guest:guest@127.0.0.1:5672/ \
//       --schemas ../../../shared/contracts/schemas [--max-events N] [--idle-ms 10000]
//       [--timeout-ms 600000] [--print-ids] [--seen-file ids.txt]
//       [--queue-prefix ext.js.] [--exchange isfahan.social.events]
//
// Under the broker account ext-<system> (deploy/rabbitmq/definitions.json) pass
// --queue-prefix ext.<system>. : the queue is <prefix><random>.
// --idle-ms 0: no quiet period. --print-ids adds every event id to the summary; --seen-file
// appends each new event's id to a file as it arrives (a driver can watch it, then stop the
// subscriber with SIGTERM).
//
// On stderr: one line {"ready": "<queue>"} once the queue is bound (start the run after it).
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { parseArgs } = require('node:util');
const amqp = require('amqplib');
const { HTTP } = require('cloudevents');
const Ajv2020 = require('ajv/dist/2020').default;
const addFormats = require('ajv-formats').default;

const EXCHANGE = 'isfahan.social.events';
const CONTENT_TYPE = 'application/cloudevents+json';
const TYPE_PREFIX = 'ir.isfahan.social.';
const MAX_LISTED_ERRORS = 100;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TYPE = /^ir\.isfahan\.social\.[a-z]+\.[a-z_]+\.[a-z_]+\.v[0-9]+$/;

// The envelope as the contract documents it (README "Events on the bus", AsyncAPI CloudEvent).
const ENVELOPE = {
  type: 'object',
  required: ['specversion', 'id', 'source', 'type', 'subject', 'time', 'datacontenttype',
    'dataschema', 'sequence', 'actor', 'correlationid', 'causationid', 'data'],
  properties: {
    specversion: { const: '1.0' },
    id: { type: 'string', format: 'uuid' },
    source: { type: 'string', pattern: '^/isfahan/social/[a-z]+$' },
    type: { type: 'string', pattern: TYPE.source },
    subject: { type: 'string', minLength: 1 },
    time: { type: 'string', format: 'date-time' },
    datacontenttype: { const: 'application/json' },
    dataschema: { type: 'string', format: 'uri' },
    sequence: { type: 'string', pattern: '^[0-9]{20}$' },
    actor: { type: 'string', minLength: 1 },
    correlationid: { type: 'string', minLength: 1 },
    causationid: { type: 'string', minLength: 1 },
    audithash: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    data: { type: 'object' },
  },
};

function options() {
  const { values } = parseArgs({
    options: {
      amqp: { type: 'string', default: process.env.AMQP_URI || 'amqp://guest:guest@127.0.0.1:5672/' },
      schemas: { type: 'string' },
      exchange: { type: 'string', default: EXCHANGE },
      'queue-prefix': { type: 'string', default: 'ext.js.' },
      'max-events': { type: 'string', default: '0' },
      'idle-ms': { type: 'string', default: '10000' },
      'timeout-ms': { type: 'string', default: '600000' },
      'print-ids': { type: 'boolean', default: false },
      'seen-file': { type: 'string' },
    },
  });
  if (!values.schemas) throw new Error('--schemas <folder of the JSON Schemas> is required');
  return {
    uri: values.amqp,
    exchange: values.exchange,
    queuePrefix: values['queue-prefix'],
    schemas: values.schemas,
    maxEvents: Number(values['max-events']),
    idleMs: Number(values['idle-ms']),
    timeoutMs: Number(values['timeout-ms']),
    printIds: values['print-ids'],
    seenFile: values['seen-file'],
  };
}

// Every schema file in the folder, compiled, by its name: `<routing key>.v<N>`.
function loadSchemas(folder) {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  addFormats(ajv);
  const byName = new Map();
  for (const file of fs.readdirSync(folder).filter((f) => f.endsWith('.json')).sort()) {
    const schema = JSON.parse(fs.readFileSync(path.join(folder, file), 'utf8'));
    byName.set(file.slice(0, -'.json'.length), ajv.compile(schema));
  }
  if (byName.size === 0) throw new Error(`no JSON Schemas in ${folder}`);
  return { envelope: ajv.compile(ENVELOPE), byName };
}

// Ajv's errors name the place and the rule, never the value (no personal data in the output).
function described(errors) {
  return (errors || []).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');
}

class Checker {
  constructor(schemas) {
    this.schemas = schemas;
    this.bodies = new Map(); // id -> body digest, to tell a redelivery from a reused id
    this.lastBySource = new Map(); // source -> {sequence, name, subject}
    this.lastBySubject = new Map(); // source + subject -> {sequence, time}
    this.byType = {};
    this.bySource = {};
    this.deliveries = 0;
    this.duplicates = 0;
    this.errors = [];
    this.errorCount = 0;
  }

  // An error names the event by id and type only when they have their documented shape: a
  // wrong message's own values are not repeated (they might be personal data).
  fail(check, event, detail) {
    this.errorCount += 1;
    if (this.errors.length < MAX_LISTED_ERRORS) {
      const id = event && UUID.test(event.id) ? event.id : undefined;
      const type = event && TYPE.test(event.type) ? event.type : undefined;
      this.errors.push({ check, id, type, detail });
    }
  }

  get events() {
    return this.bodies.size;
  }

  // One AMQP delivery: true when it was a new event (not a duplicate).
  check(message) {
    this.deliveries += 1;
    const body = message.content.toString('utf8');
    const contentType = message.properties.contentType;
    if (contentType !== CONTENT_TYPE) {
      const shown = /^[\w.+/-]{1,100}$/.test(contentType || '') ? contentType : 'other';
      this.fail('content_type', null, `content_type is ${shown}, not ${CONTENT_TYPE}`);
    }
    let raw;
    try {
      raw = JSON.parse(body);
    } catch {
      this.fail('cloudevent', null, 'the body is not JSON');
      return false;
    }
    let event;
    try {
      event = HTTP.toEvent({ headers: { 'content-type': contentType || CONTENT_TYPE }, body });
      event.validate(); // the SDK's own check of the CloudEvents 1.0 attributes
    } catch (error) {
      // the SDK's ajv errors name the attribute; its other messages may quote a value after ':'
      const why = error.errors && error.errors.length ? described(error.errors)
        : String(error.message).split(':')[0];
      this.fail('cloudevent', raw && typeof raw === 'object' ? raw : null,
        `not a structured CloudEvent: ${why}`);
      return false;
    }
    // the SDK fills a missing id or time in: required attributes are checked on the body as sent
    if (!this.schemas.envelope(raw)) {
      this.fail('envelope', raw, described(this.schemas.envelope.errors));
    }
    if (typeof raw.id !== 'string') return false;

    const digest = crypto.createHash('sha256').update(body).digest('hex');
    if (this.bodies.has(raw.id)) {
      if (this.bodies.get(raw.id) === digest) {
        this.duplicates += 1;
      } else {
        this.fail('id_unique', raw, 'the same id arrived again with another body');
      }
      return false;
    }
    this.bodies.set(raw.id, digest);
    this.lastId = raw.id;
    this.byType[raw.type] = (this.byType[raw.type] || 0) + 1;
    this.bySource[raw.source] = (this.bySource[raw.source] || 0) + 1;

    if (message.properties.messageId !== raw.id) {
      this.fail('message_id', raw, 'the AMQP message_id is not the CloudEvent id');
    }
    this.checkName(raw, message.fields.routingKey);
    this.checkData(event, raw);
    this.checkOrder(raw);
    return true;
  }

  // type, source, dataschema and routing key name the same event and version
  checkName(raw, routingKey) {
    if (typeof raw.type !== 'string' || !raw.type.startsWith(TYPE_PREFIX)) return;
    const name = raw.type.slice(TYPE_PREFIX.length); // <service>.<aggregate>.<event>.v<N>
    const match = /^(([a-z]+)\.[a-z_]+\.[a-z_]+)\.v([0-9]+)$/.exec(name);
    if (!match) return;
    const [, eventName, service, version] = match;
    if (raw.source !== `/isfahan/social/${service}`) {
      this.fail('source', raw, `source does not match the service of the type (${service})`);
    }
    const expectedKey = version === '1' ? eventName : `${eventName}.v${version}`;
    if (routingKey !== expectedKey) {
      this.fail('routing_key', raw, `routing key ${routingKey}, expected ${expectedKey}`);
    }
    if (typeof raw.dataschema === 'string' && !raw.dataschema.endsWith(`/${name}.json`)) {
      this.fail('dataschema', raw, `dataschema does not name ${name}.json`);
    }
  }

  checkData(event, raw) {
    const name = String(raw.type).slice(TYPE_PREFIX.length);
    const validate = this.schemas.byName.get(name);
    if (!validate) {
      this.fail('schema', raw, `no JSON Schema ${name}.json for this type`);
    } else if (!validate(event.data)) {
      this.fail('data', raw, described(validate.errors));
    }
  }

  // Per source, sequence increases; only the versions of one stored event (v1, then v2) share
  // a sequence. Per subject, sequence increases and time does not go back.
  checkOrder(raw) {
    if (typeof raw.sequence !== 'string' || typeof raw.source !== 'string') return;
    const name = String(raw.type).replace(/\.v[0-9]+$/, '');
    const last = this.lastBySource.get(raw.source);
    if (last) {
      const sameStored = raw.sequence === last.sequence && name === last.name
        && raw.subject === last.subject;
      if (raw.sequence < last.sequence || (raw.sequence === last.sequence && !sameStored)) {
        this.fail('sequence', raw, `sequence ${raw.sequence} after ${last.sequence} from ${raw.source}`);
      }
    }
    this.lastBySource.set(raw.source, { sequence: raw.sequence, name, subject: raw.subject });

    const key = `${raw.source} ${raw.subject}`;
    const previous = this.lastBySubject.get(key);
    const time = Date.parse(raw.time);
    if (previous) {
      if (raw.sequence < previous.sequence) {
        this.fail('subject_order', raw, `sequence ${raw.sequence} after ${previous.sequence} for its subject`);
      }
      if (time < previous.time) {
        this.fail('subject_order', raw, 'time goes back for its subject');
      }
    }
    this.lastBySubject.set(key, { sequence: raw.sequence, time });
  }

  summary(stopped, startedAt, printIds) {
    const result = {
      stopped,
      events: this.events,
      deliveries: this.deliveries,
      duplicates: this.duplicates,
      by_type: Object.fromEntries(Object.entries(this.byType).sort()),
      by_source: Object.fromEntries(Object.entries(this.bySource).sort()),
      error_count: this.errorCount,
      errors: this.errors,
      elapsed_ms: Date.now() - startedAt,
    };
    if (printIds) result.ids = [...this.bodies.keys()];
    return result;
  }
}

async function main() {
  const startedAt = Date.now();
  const opts = options();
  const checker = new Checker(loadSchemas(opts.schemas));
  const connection = await amqp.connect(opts.uri);
  const channel = await connection.createChannel();
  await channel.checkExchange(opts.exchange); // the services' exchange: read, never declared
  const queue = `${opts.queuePrefix}${crypto.randomBytes(4).toString('hex')}`;
  await channel.assertQueue(queue, { exclusive: true, autoDelete: true, durable: false });
  await channel.bindQueue(queue, opts.exchange, '#');
  await channel.prefetch(100);

  let finished = false;
  let idleTimer = null;
  const finish = async (stopped) => {
    if (finished) return;
    finished = true;
    clearTimeout(idleTimer);
    clearTimeout(deadline);
    if (checker.deliveries === 0) {
      checker.fail('received', null, 'no event arrived');
    } else if (stopped === 'timeout' && opts.maxEvents > 0) {
      checker.fail('received', null, `${checker.events} of ${opts.maxEvents} events in time`);
    }
    process.stdout.write(`${JSON.stringify(checker.summary(stopped, startedAt, opts.printIds))}\n`);
    try {
      await connection.close();
    } catch {
      // already closed: nothing to release
    }
    process.exitCode = checker.errorCount > 0 ? 1 : 0;
  };
  const deadline = setTimeout(() => finish('timeout'), opts.timeoutMs);
  process.on('SIGTERM', () => finish('signal'));
  process.on('SIGINT', () => finish('signal'));
  connection.on('error', () => {}); // 'close' follows, and ends the run
  connection.on('close', () => {
    if (!finished) checker.fail('connection', null, 'the broker closed the connection');
    finish('connection-closed');
  });

  await channel.consume(queue, (message) => {
    if (message === null) { // the broker cancelled the consumer (its queue was deleted)
      checker.fail('connection', null, 'the broker cancelled the consumer');
      return finish('cancelled');
    }
    if (finished) return undefined;
    let isNew = false;
    try {
      isNew = checker.check(message);
    } catch (error) { // a fault of this checker, not of the event: still a failed run
      checker.fail('subscriber', null, `the check itself failed: ${error.name}`);
    }
    channel.ack(message);
    if (isNew && opts.seenFile) fs.appendFileSync(opts.seenFile, `${checker.lastId}\n`);
    if (opts.maxEvents > 0 && checker.events >= opts.maxEvents) return finish('max-events');
    clearTimeout(idleTimer);
    if (opts.idleMs > 0) idleTimer = setTimeout(() => finish('idle'), opts.idleMs);
    return undefined;
  }, { noAck: false });
  process.stderr.write(`${JSON.stringify({ ready: queue })}\n`);
}

main().catch((error) => {
  process.stderr.write(`${JSON.stringify({ fatal: error.message })}\n`);
  process.exit(2);
});

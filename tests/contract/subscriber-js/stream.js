// Join late through the RabbitMQ stream isfahan.social.events.log (every event, bound to
// isfahan.social.events with '#'): read from an offset, then follow live; drop duplicates by
// CloudEvent id. One JSON line per new event. Usage:
//   node stream.js [amqp uri] [first | last | next | <offset> | <ISO time>] [stop after N]
'use strict';
const amqp = require('amqplib');

const [uri = 'amqp://guest:guest@127.0.0.1:5672/', from = 'first', stopAfter = '0'] = process.argv.slice(2);
const offset = /^[0-9]+$/.test(from) ? Number(from)
  : ['first', 'last', 'next'].includes(from) ? from
    : { '!': 'timestamp', value: Math.floor(Date.parse(from) / 1000) }; // an AMQP timestamp, in s

(async () => {
  const connection = await amqp.connect(uri);
  const channel = await connection.createChannel();
  await channel.prefetch(100); // a stream consumer needs a prefetch, and acks what it reads
  const seen = new Set();
  await channel.consume(process.env.EVENTS_STREAM || 'isfahan.social.events.log', (message) => {
    const event = JSON.parse(message.content.toString('utf8'));
    channel.ack(message);
    if (seen.has(event.id)) return; // a duplicate: already handled
    seen.add(event.id);
    const at = message.properties.headers['x-stream-offset'];
    console.log(JSON.stringify({ offset: at, id: event.id, type: event.type, sequence: event.sequence }));
    if (seen.size === Number(stopAfter)) connection.close();
  }, { noAck: false, arguments: { 'x-stream-offset': offset } });
})().catch((error) => { console.error(error.message); process.exit(1); });

// GossipSub interop with an lwdock node, written from docs/PROTOCOL.md (sections 2, 3, 6).
//
//   node gossip.mjs <multiaddr of an lwdock node, ending in /p2p/<peer id>> [--timeout-ms N]
//                   [--no-wait-record] [--garbage]
//
// A js-libp2p node (TCP + Noise + yamux + identify + @libp2p/gossipsub, StrictSign, and the
// section 3 message id `from || seqno`) that
//   1. dials the lwdock node, subscribes to /lwdock/records/1.0.0 and /lwdock/have/1.0.0, and
//      waits until the lwdock node is in its mesh for the records topic, then prints
//      {"event": "ready"}: the caller now makes the lwdock node publish (`lwdock submit`);
//   2. receives that record over gossip (unless --no-wait-record) and checks it: the message's
//      `from` is the lwdock node, the message id is from || seqno, and the envelope passes the
//      section 6 checks (signature by `pub` under lwdock/record/v1, before decoding the body);
//   3. publishes a record of its own: an envelope signed with its own Ed25519 node key, a body
//      with the 8 keys of section 6, and an RKMETableSpecification built here (compact spec:
//      zstd(msgpack), the zstd frame made of raw blocks, see zstdRaw below); then syncs from the
//      lwdock node (section 8) until its own record comes back, proving it was stored;
//   4. with --garbage, publishes four messages the lwdock node must reject (not msgpack, a bad
//      signature, a record whose body misses a key, a valid record with an envelope over the
//      512 KiB `data` limit), then one more valid record, and syncs until that one is stored;
//   5. waits until its stdin closes (the caller's checks are done) or the deadline, then prints
//      {"event": "summary", "ok": bool, ...}. Exit code 0 iff ok.
// The lwdock node's acceptance/rejection counters are the caller's to read (`lwdock status --json`).

import './node20-polyfill.mjs'
import { createHash, randomBytes } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { gossipsub, TopicValidatorResult } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { decode as msgpackDecode, encode as msgpackEncode } from '@msgpack/msgpack'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { checkEnvelope, finish, noteError, syncAll, uvarint, verifySigned } from './client.mjs'

const RECORDS = '/lwdock/records/1.0.0'
const HAVE = '/lwdock/have/1.0.0'
const RECORD_DOMAIN = 'lwdock/record/v1'
const MAX_DATA = 512 * 1024 // section 3: max `data` per message

const out = (obj) => process.stdout.write(JSON.stringify(obj, (_k, v) => typeof v === 'bigint' ? v.toString() : v) + '\n')
const hex = (b) => Buffer.from(b).toString('hex')
const sleep = (ms, signal) => new Promise((resolve, reject) => {
  if (signal?.aborted) { reject(signal.reason); return }
  const onAbort = () => { clearTimeout(t); reject(signal.reason) }
  const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
  signal?.addEventListener('abort', onAbort, { once: true })
})

const concat = (...parts) => {
  const res = new Uint8Array(parts.reduce((s, p) => s + p.length, 0))
  let at = 0
  for (const p of parts) { res.set(p, at); at += p.length }
  return res
}

function u64be (n) {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigUint64(0, BigInt(n))
  return b
}

// Section 3: message id = raw peer-id bytes of `from` || 8-byte big-endian seqno.
function msgIdFn (msg) {
  if (msg.type !== 'signed') throw new Error('StrictSign: unsigned message')
  return concat(msg.from.toMultihash().bytes, u64be(msg.sequenceNumber))
}

// ---------------------------------------------------------------- compact spec (section 6)

// A zstd frame (RFC 8878) of raw (uncompressed) blocks, declaring its content size: any
// conforming decoder reads it, and no zstd library is needed (Node 20's zlib has none).
function zstdRaw (data) {
  const MAX_BLOCK = 128 * 1024
  const header = new Uint8Array(4 + 1 + 4)
  const dv = new DataView(header.buffer)
  dv.setUint32(0, 0xFD2FB528, true) // magic
  header[4] = (2 << 6) | (1 << 5) // Frame_Content_Size_flag = 2 (4 bytes), Single_Segment, no checksum, no dict
  dv.setUint32(5, data.length, true)
  const blocks = []
  let at = 0
  do {
    const n = Math.min(MAX_BLOCK, data.length - at)
    const last = at + n >= data.length ? 1 : 0
    const word = last | (0 << 1) | (n << 3) // Block_Type 0 = Raw_Block
    blocks.push(Uint8Array.from([word & 0xff, (word >> 8) & 0xff, (word >> 16) & 0xff]), data.subarray(at, at + n))
    at += n
  } while (at < data.length)
  return concat(header, ...blocks)
}

// An RKMETableSpecification of K points in d dimensions: {"t","v","g","n","k","d","z","b"}.
function rkmeTableSpec (K, d) {
  const z = new Float32Array(K * d)
  for (let i = 0; i < z.length; i++) z[i] = Math.sin(i + 1) * 2 // arbitrary finite points
  const b = new Float32Array(K).fill(1 / K)
  const le = (arr) => { // float32 little-endian, whatever the host order
    const bytes = new Uint8Array(arr.length * 4)
    const dv = new DataView(bytes.buffer)
    arr.forEach((x, i) => dv.setFloat32(i * 4, x, true))
    return bytes
  }
  // "g" must be a float64 on the wire: @msgpack/msgpack writes 0.25 as float64 unless forceFloat32.
  const packed = msgpackEncode({ t: 'RKMETableSpecification', v: 1, g: 0.25, n: 150, k: K, d, z: le(z), b: le(b) })
  return zstdRaw(packed)
}

// ---------------------------------------------------------------- envelopes (sections 2, 6)

const encoder = new TextEncoder()

async function signEnvelope (privateKey, pub, bodyBytes) {
  const domain = encoder.encode(RECORD_DOMAIN)
  const sig = await privateKey.sign(concat(uvarint(domain.length), domain, bodyBytes))
  return msgpackEncode({ v: 1, pub, body: bodyBytes, sig })
}

function recordBody ({ id, size, name, description = 'published by a js-libp2p node over GossipSub' }) {
  const now = Date.now()
  const semantic = {
    Data: { Type: 'Class', Values: ['Table'] },
    Task: { Type: 'Class', Values: ['Classification'] },
    Library: { Type: 'Class', Values: ['Scikit-learn'] },
    Scenario: { Type: 'Tag', Values: ['Nature'] },
    License: { Type: 'Class', Values: ['MIT'] },
    Name: { Type: 'String', Values: name },
    Description: { Type: 'String', Values: description },
    Input: { Dimension: 4, Description: { 0: 'a', 1: 'b', 2: 'c', 3: 'd' } },
    Output: { Dimension: 3, Description: { 0: 'x', 1: 'y', 2: 'z' } }
  }
  const model = { class_name: 'Model', module_path: '__init__.py', kwargs: {} }
  return {
    kind: 'record',
    id,
    seq: now,
    created: now,
    size,
    semantic: JSON.stringify(semantic),
    model: JSON.stringify(model),
    specs: { RKMETableSpecification: rkmeTableSpec(5, 4) }
  }
}

// ---------------------------------------------------------------- main

async function main () {
  const args = process.argv.slice(2)
  const addr = args.find((a) => a.startsWith('/ip'))
  const option = (name, fallback) => args.includes(name) ? args[args.indexOf(name) + 1] : fallback
  const timeoutMs = Number(option('--timeout-ms', 30000))
  const waitRecord = !args.includes('--no-wait-record')
  const garbage = args.includes('--garbage')
  if (addr == null || !addr.includes('/p2p/')) {
    process.stderr.write('usage: node gossip.mjs /ip4/HOST/tcp/PORT/p2p/PEER_ID [--timeout-ms N] [--no-wait-record] [--garbage]\n')
    process.exit(2)
  }
  const remote = addr.split('/p2p/')[1]
  const signal = AbortSignal.timeout(timeoutMs)
  const summary = { event: 'summary', ok: false, peer: remote }
  let stdinClosed = false
  const stdinEnd = new Promise((resolve) => {
    process.stdin.on('end', () => { stdinClosed = true; resolve() })
    process.stdin.on('error', () => { stdinClosed = true; resolve() })
    process.stdin.resume()
  })

  const privateKey = await generateKeyPair('Ed25519')
  const node = await createLibp2p({
    privateKey,
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: gossipsub({
        msgIdFn,
        msgIdToStrFn: (id) => hex(id), // so 'gossipsub:message' reports the id in hex
        globalSignaturePolicy: 'StrictSign',
        maxInboundDataLength: MAX_DATA + 64 * 1024,
        emitSelf: false,
        fallbackToFloodsub: false
      })
    }
  })
  const self = node.peerId.toString()
  const pubsub = node.services.pubsub
  summary.self = self

  // Inbound gossip: validate records per section 6; keep what arrived.
  const inbox = []
  const arrivals = []
  const notify = () => { for (const w of arrivals.splice(0)) w() }
  pubsub.topicValidators.set(RECORDS, (_peer, msg) => {
    try { checkEnvelope(msg.data); return TopicValidatorResult.Accept } catch { return TopicValidatorResult.Reject }
  })
  pubsub.addEventListener('gossipsub:message', (evt) => {
    const { propagationSource, msgId, msg } = evt.detail
    const entry = {
      topic: msg.topic,
      from: msg.type === 'signed' ? msg.from.toString() : null,
      forwarder: propagationSource.toString(),
      seqno: msg.type === 'signed' ? msg.sequenceNumber : null,
      msgId,
      msgIdRule: msg.type === 'signed' && msgId === hex(concat(msg.from.toMultihash().bytes, u64be(msg.sequenceNumber))),
      signed: msg.type === 'signed',
      data: msg.data
    }
    inbox.push(entry)
    notify()
  })
  const waitFor = async (pred, what) => {
    for (;;) {
      const hit = inbox.find(pred)
      if (hit != null) return hit
      if (signal.aborted) throw new Error(`timed out waiting for ${what}`)
      await Promise.race([new Promise((resolve) => arrivals.push(resolve)), sleep(200, signal)])
    }
  }

  const t0 = performance.now()
  try {
    pubsub.subscribe(RECORDS)
    pubsub.subscribe(HAVE)
    const ma = multiaddr(addr)
    const conn = await node.dial(ma, { signal })
    summary.connected = { remotePeer: conn.remotePeer.toString(), encryption: conn.encryption, multiplexer: conn.multiplexer }
    out({ event: 'connected', ...summary.connected })

    // Ready when the lwdock node has told us its subscription and is in our records mesh.
    for (;;) {
      const subscribed = pubsub.getSubscribers(RECORDS).map(String).includes(remote)
      const meshed = pubsub.getMeshPeers(RECORDS).includes(remote)
      if (subscribed && meshed) break
      await sleep(50, signal)
    }
    const streams = node.getConnections(conn.remotePeer).flatMap((c) => c.streams.map((s) => s.protocol))
    summary.ready = { ms: Math.round(performance.now() - t0), protocols: streams.filter((p) => p?.startsWith('/meshsub')) }
    out({ event: 'ready', self, ...summary.ready })

    // (a) a record the lwdock node publishes now.
    if (waitRecord) {
      const got = await waitFor((m) => m.topic === RECORDS && m.from === remote, 'a record gossiped by the lwdock node')
      const rec = checkEnvelope(got.data) // signature under lwdock/record/v1 checked before the body is decoded
      summary.received = {
        id: rec.id, name: rec.name ?? null, publisher: rec.pub, from: got.from, forwarder: got.forwarder,
        seqno: got.seqno, msgIdRule: got.msgIdRule, signed: got.signed, specs: rec.specTypes
      }
      out({ event: 'gossip-record', ...summary.received })
      const have = await waitFor((m) => m.topic === HAVE && m.from === remote && msgpackDecode(m.data).ids?.includes(rec.id),
        'the lwdock node\'s "have" announcement').catch((err) => ({ error: err.message }))
      summary.have = have.error != null ? have : { ids: msgpackDecode(have.data).ids, addrs: msgpackDecode(have.data).addrs, msgIdRule: have.msgIdRule }
      out({ event: 'gossip-have', ...summary.have })
    }

    // (b) a record of our own, signed by our node key; stored iff it comes back through sync (section 8).
    const makeRecord = async (description) => {
      const fakeZip = randomBytes(1000 + Math.floor(Math.random() * 1000)) // a zip we do not serve
      const id = createHash('sha256').update(fakeZip).digest('hex')
      const name = `js-gossip-${id.slice(0, 8)}`
      const bodyBytes = msgpackEncode(recordBody({ id, size: fakeZip.length, name, description }))
      const envelope = await signEnvelope(privateKey, self, bodyBytes)
      const check = checkEnvelope(envelope)
      if (!verifySigned(self, RECORD_DOMAIN, bodyBytes, msgpackDecode(envelope).sig) || check.id !== id) throw new Error('own envelope does not verify')
      return { id, name, size: fakeZip.length, bodyBytes, envelope }
    }
    const publishRecord = async (rec) => {
      const res = await pubsub.publish(RECORDS, rec.envelope)
      return { id: rec.id, name: rec.name, size: rec.size, envelopeBytes: rec.envelope.length, recipients: res.recipients.map(String) }
    }
    const syncUntil = async (id) => {
      for (;;) {
        const { records } = await syncAll(node, ma, 200, signal)
        const mine = records.find((r) => r.kind === 'record' && r.id === id)
        if (mine != null) return { id: mine.id, publisher: mine.pub, held: mine.held }
        await sleep(200, signal)
      }
    }
    const own = await makeRecord()
    const { id, bodyBytes, envelope } = own
    summary.published = await publishRecord(own)
    out({ event: 'published', ...summary.published })
    summary.storedBySync = await syncUntil(id)
    out({ event: 'synced-own', ...summary.storedBySync })

    // (c) garbage the lwdock node must reject, and stay up.
    if (garbage) {
      const sent = []
      const pub = async (what, data) => { const r = await pubsub.publish(RECORDS, data); sent.push({ what, bytes: data.length, recipients: r.recipients.length }) }
      await pub('not msgpack', Uint8Array.from([0xc1, 0xc1, 0xc1]))
      const env = msgpackDecode(envelope)
      const badSig = Uint8Array.from(env.sig); badSig[0] ^= 0xff
      await pub('bad signature', msgpackEncode({ ...env, sig: badSig }))
      const body = msgpackDecode(bodyBytes)
      delete body.model
      const shortBody = msgpackEncode(body)
      await pub('record body without "model"', await signEnvelope(privateKey, self, shortBody))
      // A validly signed record whose envelope is over the 512 KiB `data` limit of section 3
      // (a long Description): to be refused on receipt, never stored.
      const big = await makeRecord('x'.repeat(MAX_DATA))
      await pub('valid record, envelope > 512 KiB', big.envelope)
      summary.garbage = sent
      summary.oversize = { id: big.id, envelopeBytes: big.envelope.length }
      out({ event: 'garbage', sent, oversize: summary.oversize })
      // The gossip stream still works after all that: one more record gets stored.
      const after = await makeRecord()
      summary.after = await publishRecord(after)
      out({ event: 'published-after-garbage', ...summary.after })
      summary.storedAfter = await syncUntil(after.id)
      out({ event: 'synced-after-garbage', ...summary.storedAfter })
    }

    out({ event: 'waiting', for: 'stdin to close' })
    await Promise.race([stdinEnd, sleep(timeoutMs, signal).catch(() => {})])
    summary.stdinClosed = stdinClosed
    summary.ok = (!waitRecord || (summary.received?.msgIdRule === true && summary.received?.from === remote)) &&
      summary.storedBySync?.id === id && (!garbage || summary.storedAfter?.id === summary.after?.id) && stdinClosed
  } catch (err) {
    noteError(summary, err)
  }
  await finish(summary, node, t0, out)
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`)
  process.exit(1)
})

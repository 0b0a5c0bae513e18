// A js-libp2p client for an lwdock node, written from docs/PROTOCOL.md only.
//
//   node client.mjs <multiaddr of an lwdock node, ending in /p2p/<peer id>>
//                   [--timeout-ms N] [--sync-limit N] [--fetch ID] [--no-search] [--probes]
//
// It dials with TCP + Noise + yamux (nothing else), then
//   (a) pages through /lwdock/sync/1.0.0 (section 8) and checks every envelope (section 6): the
//       exact keys, v == 1, the Ed25519 signature under the domain lwdock/record/v1 with the key
//       taken out of `pub` (section 2) *before* the body is decoded, then the body's keys/types;
//   (b) fetches one record's zip over /lwdock/fetch/1.0.0 (section 5) from offset 0 and checks
//       sha256(bytes) == announced sha256 == id, and the length == total == record.size; when the
//       record carries `pieces` (section 6), fetches it again over /lwdock/fetch/2.0.0: the layer
//       checked against the record's root before the body, then every piece as it arrives;
//   (c) sends one /lwdock/search/1.0.0 request (section 9) by that record's name;
//   (d) with --probes: resume at total/2, offset == total, and the documented errors (BAD_OFFSET,
//       NOT_FOUND, BAD_REQUEST, TOO_LARGE, a REFUSED sync, multistream `na`).
// Runs on Node >= 20 (node20-polyfill.mjs supplies the one Node 22 API js-libp2p 3 uses).
// Output: one JSON line per event ({"event": "record", ...}, {"event": "fetch", ...}, ...) and
// a final {"event": "summary", "ok": bool, ...}. Exit code 0 iff ok.

import './node20-polyfill.mjs'
import { createHash, createPublicKey, verify as cryptoVerify } from 'node:crypto'
import { pathToFileURL } from 'node:url'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { decode as msgpackDecode, encode as msgpackEncode } from '@msgpack/msgpack'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { base58btc } from 'multiformats/bases/base58'

const SYNC = '/lwdock/sync/1.0.0'
const FETCH = '/lwdock/fetch/1.0.0'
const FETCH_PIECES = '/lwdock/fetch/2.0.0'
const SEARCH = '/lwdock/search/1.0.0'
const RECORD_DOMAIN = 'lwdock/record/v1'
const MAX_ENVELOPE = 4 << 20
const MAX_BODY = 16 << 20 // a client's default body limit (section 4)
const ERROR_NAMES = { 1: 'TOO_LARGE', 2: 'BAD_REQUEST', 3: 'BUSY', 4: 'INTERNAL', 5: 'REFUSED', 6: 'TIMEOUT', 7: 'NOT_FOUND', 8: 'BAD_OFFSET', 9: 'UNSUPPORTED' }

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

// ---------------------------------------------------------------- varints, bytes (Notation)

function uvarint (n) {
  const bytes = []
  let v = BigInt(n)
  do {
    let b = Number(v & 0x7fn)
    v >>= 7n
    if (v > 0n) b |= 0x80
    bytes.push(b)
  } while (v > 0n)
  return Uint8Array.from(bytes)
}

function u32be (n) {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n)
  return b
}

function u64be (n) {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigUint64(0, BigInt(n))
  return b
}

const concat = (...parts) => {
  const total = parts.reduce((s, p) => s + p.length, 0)
  const res = new Uint8Array(total)
  let at = 0
  for (const p of parts) { res.set(p, at); at += p.length }
  return res
}

const frame = (x) => concat(uvarint(x.length), x)

class ProtocolError extends Error {}

// A pull reader over a js-libp2p stream (an async iterable of Uint8Array | Uint8ArrayList chunks).
class Reader {
  constructor (stream) {
    this.it = stream[Symbol.asyncIterator]()
    this.buf = new Uint8Array(0)
    this.eof = false
  }

  async fill () {
    if (this.eof) return false
    const { value, done } = await this.it.next()
    if (done) { this.eof = true; return false }
    const chunk = value instanceof Uint8Array ? value : value.subarray()
    this.buf = this.buf.length === 0 ? chunk : concat(this.buf, chunk)
    return true
  }

  async exactly (n, what) {
    while (this.buf.length < n) {
      if (!(await this.fill())) throw new ProtocolError(`EOF after ${this.buf.length} of ${n} bytes of ${what}`)
    }
    const res = this.buf.subarray(0, n)
    this.buf = this.buf.subarray(n)
    return res
  }

  async uvarint (what) {
    let value = 0n
    for (let i = 0; i < 9; i++) { // lwdock accepts at most 9 varint bytes
      const [b] = await this.exactly(1, what)
      value |= BigInt(b & 0x7f) << BigInt(7 * i)
      if ((b & 0x80) === 0) return Number(value)
    }
    throw new ProtocolError(`varint of ${what} longer than 9 bytes`)
  }

  async frame (what, limit) {
    const n = await this.uvarint(`${what} length`)
    if (n > limit) throw new ProtocolError(`${what} frame of ${n} bytes > ${limit}`)
    return await this.exactly(n, what)
  }

  // Raw chunks as they arrive (the fetch body), starting with what is buffered.
  async * chunks () {
    if (this.buf.length > 0) { const b = this.buf; this.buf = new Uint8Array(0); yield b }
    while (await this.fill()) { const b = this.buf; this.buf = new Uint8Array(0); yield b }
  }
}

// ---------------------------------------------------------------- identity, signatures (section 2)

const ED25519_SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])
const PEER_ID_ED25519_PREFIX = Uint8Array.from([0x00, 0x24, 0x08, 0x01, 0x12, 0x20])

function publicKeyFromPeerId (peerId) {
  if (typeof peerId !== 'string' || !peerId.startsWith('12D3KooW')) throw new ProtocolError(`not an Ed25519 peer id: ${peerId}`)
  const raw = base58btc.baseDecode(peerId)
  if (raw.length !== 38 || !PEER_ID_ED25519_PREFIX.every((b, i) => raw[i] === b)) {
    throw new ProtocolError(`peer id ${peerId} is not identity-multihash(protobuf Ed25519 key)`)
  }
  return raw.subarray(6)
}

function verifySigned (peerId, domain, payload, signature) {
  const pub = publicKeyFromPeerId(peerId)
  const d = new TextEncoder().encode(domain)
  const signed = concat(uvarint(d.length), d, payload)
  const key = createPublicKey({ key: Buffer.from(concat(ED25519_SPKI_PREFIX, pub)), format: 'der', type: 'spki' })
  return cryptoVerify(null, signed, key, signature)
}

// ---------------------------------------------------------------- envelopes (section 6)

const isInt = (x) => Number.isInteger(x) || typeof x === 'bigint'
const isBin = (x) => x instanceof Uint8Array
const HEX64 = /^[0-9a-f]{64}$/

function exactKeys (obj, keys, what) {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj) || isBin(obj)) throw new ProtocolError(`${what} is not a map`)
  const got = Object.keys(obj).sort()
  const want = [...keys].sort()
  if (got.length !== want.length || got.some((k, i) => k !== want[i])) {
    throw new ProtocolError(`${what} has keys ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`)
  }
}

function checkEnvelope (bytes) {
  if (!isBin(bytes)) throw new ProtocolError('envelope item is not bin')
  if (bytes.length > MAX_ENVELOPE) throw new ProtocolError('envelope > 4 MiB')
  const env = msgpackDecode(bytes)
  exactKeys(env, ['v', 'pub', 'body', 'sig'], 'envelope')
  if (env.v !== 1) throw new ProtocolError(`envelope v = ${env.v}`)
  if (typeof env.pub !== 'string' || !isBin(env.body) || !isBin(env.sig) || env.sig.length !== 64) {
    throw new ProtocolError('envelope field types')
  }
  // The signature is checked before the body is decoded.
  if (!verifySigned(env.pub, RECORD_DOMAIN, env.body, env.sig)) throw new ProtocolError(`bad signature by ${env.pub}`)
  const body = msgpackDecode(env.body)
  if (body === null || typeof body !== 'object') throw new ProtocolError('body is not a map')
  if (body.kind === 'record') {
    const keys = ['kind', 'id', 'seq', 'created', 'size', 'semantic', 'model', 'specs']
    exactKeys(body, 'pieces' in body ? [...keys, 'pieces'] : keys, 'record body')
    let pieces = null
    if ('pieces' in body) { // optional: {size: power of two in 16 KiB..16 MiB, root: 32 bytes}
      exactKeys(body.pieces, ['size', 'root'], 'record pieces')
      const { size, root } = body.pieces
      if (!Number.isInteger(size) || size < (16 << 10) || size > (16 << 20) || (size & (size - 1)) !== 0) throw new ProtocolError(`pieces.size ${size}`)
      if (!isBin(root) || root.length !== 32) throw new ProtocolError('pieces.root is not 32 bytes')
      pieces = { size, root: Buffer.from(root).toString('hex') }
    }
    if (typeof body.id !== 'string' || !HEX64.test(body.id)) throw new ProtocolError('record id')
    if (!isInt(body.seq) || body.seq < 0 || !isInt(body.created) || !isInt(body.size) || body.size <= 0) throw new ProtocolError('record ints')
    if (typeof body.semantic !== 'string' || typeof body.model !== 'string') throw new ProtocolError('record semantic/model not str')
    const specs = body.specs
    if (specs === null || typeof specs !== 'object' || isBin(specs) || Array.isArray(specs)) throw new ProtocolError('record specs not a map')
    const n = Object.keys(specs).length
    if (n < 1 || n > 8 || !Object.values(specs).every(isBin)) throw new ProtocolError('record specs: 1..8 entries of bin')
    const semantic = JSON.parse(body.semantic)
    JSON.parse(body.model)
    return { kind: 'record', pub: env.pub, id: body.id, seq: body.seq, size: Number(body.size), name: semantic?.Name?.Values, semantic, specTypes: Object.keys(specs), pieces }
  } else if (body.kind === 'tombstone') {
    exactKeys(body, ['kind', 'id', 'seq', 'created'], 'tombstone body')
    if (typeof body.id !== 'string' || !HEX64.test(body.id) || !isInt(body.seq) || !isInt(body.created)) throw new ProtocolError('tombstone fields')
    return { kind: 'tombstone', pub: env.pub, id: body.id, seq: body.seq }
  }
  throw new ProtocolError(`unknown body kind ${body.kind}`)
}

// ---------------------------------------------------------------- request/response (section 4)

async function request (node, ma, protocol, requestBytes, signal) {
  const stream = await node.dialProtocol(ma, protocol, { signal })
  try {
    stream.send(frame(requestBytes))
    await stream.close({ signal }) // half-close (FIN); the answer is still readable
    const reader = new Reader(stream)
    const parts = []
    let size = 0
    for (;;) {
      const f = await reader.frame('response', (1 << 20) + 1)
      if (f.length === 0) throw new ProtocolError('empty response frame')
      const tag = f[0]
      if (tag === 0x00) {
        size += f.length - 1
        if (size > MAX_BODY) throw new ProtocolError('response body > 16 MiB')
        parts.push(f.subarray(1))
      } else if (tag === 0x01) {
        if (f.length !== 1) throw new ProtocolError('END frame of length != 1')
        return concat(...parts)
      } else if (tag === 0x02) {
        const code = f[1]
        const message = new TextDecoder().decode(f.subarray(2))
        throw new ProtocolError(`${protocol}: ERROR ${code} ${ERROR_NAMES[code] ?? '?'}: ${message}`)
      } else {
        throw new ProtocolError(`unknown response tag ${tag}`)
      }
    }
  } catch (err) {
    stream.abort(err)
    throw err
  }
}

async function syncAll (node, ma, limit, signal) {
  const records = []
  let after = 0
  let pages = 0
  for (;;) {
    const body = await request(node, ma, SYNC, msgpackEncode({ after, limit }), signal)
    const page = msgpackDecode(body)
    exactKeys(page, ['items', 'next', 'more', 'have'], 'sync response')
    pages++
    for (const item of page.items) {
      const rec = checkEnvelope(item)
      const held = page.have.includes(rec.id)
      records.push({ ...rec, held })
      out({ event: rec.kind, id: rec.id, name: rec.name ?? null, publisher: rec.pub, seq: Number(rec.seq), size: rec.size ?? null, specs: rec.specTypes ?? null, held })
    }
    if (!page.more) return { records, pages }
    if (!(isInt(page.next) && page.next > after)) throw new ProtocolError(`sync cursor did not advance: ${page.next}`)
    after = page.next
  }
}

// ---------------------------------------------------------------- fetch (section 5)

async function fetchBlob (node, ma, id, expectedSize, signal, { offset = 0, prefix = null, keep = false } = {}) {
  const stream = await node.dialProtocol(ma, FETCH, { signal })
  try {
    stream.send(frame(concat(u64be(offset), new TextEncoder().encode(id))))
    await stream.close({ signal })
    const reader = new Reader(stream)
    const header = await reader.frame('fetch header', 1 + 1 + 1024)
    if (header[0] === 0x02) {
      throw new ProtocolError(`fetch: ERROR ${header[1]} ${ERROR_NAMES[header[1]] ?? '?'}: ${new TextDecoder().decode(header.subarray(2))}`)
    }
    if (header[0] !== 0x00 || header.length !== 1 + 8 + 32) throw new ProtocolError(`fetch header tag ${header[0]} length ${header.length}`)
    const total = Number(new DataView(header.buffer, header.byteOffset + 1, 8).getBigUint64(0))
    const announced = Buffer.from(header.subarray(9)).toString('hex')
    if (announced !== id) throw new ProtocolError(`announced sha256 ${announced} != id`)
    if (expectedSize != null && total !== expectedSize) throw new ProtocolError(`announced total ${total} != record size ${expectedSize}`)
    // Resuming: hash what is already held, then what arrives; the body is total - offset raw bytes.
    const hash = createHash('sha256')
    if (prefix != null) hash.update(prefix)
    const kept = []
    let got = offset
    for await (const chunk of reader.chunks()) {
      got += chunk.length
      if (got > total) throw new ProtocolError(`more than total (${total}) bytes`)
      hash.update(chunk)
      if (keep) kept.push(Uint8Array.from(chunk))
    }
    if (got < total) throw new ProtocolError(`truncated: ${got} of ${total} bytes`)
    const digest = hash.digest('hex')
    const res = { offset, total, got, digest, verified: digest === id && digest === announced }
    if (keep) Object.defineProperty(res, 'bytes', { value: concat(...kept), enumerable: false })
    return res
  } catch (err) {
    stream.abort(err)
    throw err
  }
}

// /lwdock/fetch/2.0.0: the piece layer in the header is checked against the record's root
// before the body is read, then each piece against its hash as it arrives.
async function fetchPieces (node, ma, id, expectedSize, pieces, signal, { offset = 0 } = {}) {
  const pieceSize = pieces.size
  const count = (total) => Math.ceil(total / pieceSize)
  const stream = await node.dialProtocol(ma, FETCH_PIECES, { signal })
  try {
    stream.send(frame(concat(u64be(offset), u32be(pieceSize), new TextEncoder().encode(id))))
    await stream.close({ signal })
    const reader = new Reader(stream)
    const header = await reader.frame('fetch header', 1 + 8 + 32 + 4 + 32 * count(expectedSize))
    if (header[0] === 0x02) {
      throw new ProtocolError(`fetch: ERROR ${header[1]} ${ERROR_NAMES[header[1]] ?? '?'}: ${new TextDecoder().decode(header.subarray(2))}`)
    }
    if (header[0] !== 0x00 || header.length < 45) throw new ProtocolError(`fetch header tag ${header[0]} length ${header.length}`)
    const view = new DataView(header.buffer, header.byteOffset, header.length)
    const total = Number(view.getBigUint64(1))
    const announced = Buffer.from(header.subarray(9, 41)).toString('hex')
    const layer = header.subarray(45)
    if (announced !== id || total !== expectedSize || view.getUint32(41) !== pieceSize) throw new ProtocolError('fetch header describes another blob')
    const layerRoot = createHash('sha256').update(layer).digest('hex')
    if (layer.length !== 32 * count(total) || layerRoot !== pieces.root) throw new ProtocolError('piece layer does not match the record\'s root')
    let index = offset / pieceSize
    let filled = 0
    let hash = createHash('sha256')
    let got = offset
    for await (const chunk of reader.chunks()) {
      for (let pos = 0; pos < chunk.length;) {
        const want = Math.min(pieceSize, total - index * pieceSize) - filled
        if (want <= 0) throw new ProtocolError(`more than total (${total}) bytes`)
        const part = chunk.subarray(pos, pos + want)
        hash.update(part)
        filled += part.length
        pos += part.length
        got += part.length
        if (filled === Math.min(pieceSize, total - index * pieceSize)) {
          if (!hash.digest().equals(Buffer.from(layer.subarray(32 * index, 32 * index + 32)))) throw new ProtocolError(`piece ${index} does not match its hash`)
          index += 1
          filled = 0
          hash = createHash('sha256')
        }
      }
    }
    if (got < total) throw new ProtocolError(`truncated: ${got} of ${total} bytes`)
    return { offset, total, got, pieces: index, verified: index === count(total) }
  } catch (err) {
    stream.abort(err)
    throw err
  }
}

// ---------------------------------------------------------------- probes of the documented edge cases

// Each probe returns {name, ok, detail}; none of them may break the connection for the next.
async function probes (node, ma, record, fullBytes, signal) {
  const results = []
  const expectError = async (name, fn, code) => {
    try {
      await fn()
      results.push({ name, ok: false, detail: 'no error' })
    } catch (err) {
      const m = /ERROR (\d+) /.exec(err.message)
      results.push({ name, ok: m != null && Number(m[1]) === code, detail: err.message })
    }
  }
  const id = record.id
  // section 5: resume from the middle, hashing the held prefix plus the rest.
  const half = Math.floor(record.size / 2)
  const resumed = await fetchBlob(node, ma, id, record.size, signal, { offset: half, prefix: fullBytes.subarray(0, half) })
  results.push({ name: 'fetch resume at total/2', ok: resumed.verified, detail: resumed })
  // section 5: offset == total is valid, the body is empty.
  const empty = await fetchBlob(node, ma, id, record.size, signal, { offset: record.size, prefix: fullBytes })
  results.push({ name: 'fetch offset == total', ok: empty.verified && empty.got === record.size, detail: empty })
  await expectError('fetch offset > total -> BAD_OFFSET', () => fetchBlob(node, ma, id, record.size, signal, { offset: record.size + 1 }), 8)
  await expectError('fetch unknown id -> NOT_FOUND', () => fetchBlob(node, ma, 'ab'.repeat(32), null, signal), 7)
  await expectError('fetch uppercase id -> BAD_REQUEST', () => fetchBlob(node, ma, id.toUpperCase(), null, signal), 2)
  // section 4: a request frame over 64 KiB -> TOO_LARGE (then a reset, which we may or may not see first).
  await expectError('sync request > 64 KiB -> TOO_LARGE', () => request(node, ma, SYNC, new Uint8Array((64 << 10) + 1), signal), 1)
  // section 4: a malformed request -> an ERROR frame (code not pinned by the doc for sync).
  try {
    await request(node, ma, SYNC, msgpackEncode(['not', 'a', 'map']), signal)
    results.push({ name: 'sync malformed request -> ERROR', ok: false, detail: 'no error' })
  } catch (err) {
    results.push({ name: 'sync malformed request -> ERROR', ok: /ERROR \d+ /.test(err.message), detail: err.message })
  }
  // section 1: an unknown protocol is refused by multistream-select ('na').
  try {
    const s = await node.dialProtocol(ma, '/lwdock/no-such/1.0.0', { signal })
    s.abort(new Error('unexpected'))
    results.push({ name: 'unknown protocol -> na', ok: false, detail: 'stream opened' })
  } catch (err) {
    results.push({ name: 'unknown protocol -> na', ok: err.name === 'UnsupportedProtocolError', detail: `${err.name}: ${err.message}` })
  }
  return results
}

// ---------------------------------------------------------------- main

async function main () {
  const args = process.argv.slice(2)
  const addr = args.find((a) => a.startsWith('/ip'))
  const option = (name, fallback) => args.includes(name) ? args[args.indexOf(name) + 1] : fallback
  const timeoutMs = Number(option('--timeout-ms', 25000))
  const syncLimit = Number(option('--sync-limit', 200))
  const fetchId = option('--fetch', null)
  const doSearch = !args.includes('--no-search')
  const doProbes = args.includes('--probes')
  if (addr == null || !addr.includes('/p2p/')) {
    process.stderr.write('usage: node client.mjs /ip4/HOST/tcp/PORT/p2p/PEER_ID [--timeout-ms N] [--sync-limit N] [--fetch ID] [--no-search] [--probes]\n')
    process.exit(2)
  }
  const signal = AbortSignal.timeout(timeoutMs)
  const summary = { event: 'summary', ok: false, peer: addr.split('/p2p/')[1] }
  const node = await createLibp2p({
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()]
  })
  const t0 = performance.now()
  try {
    const ma = multiaddr(addr)
    const conn = await node.dial(ma, { signal })
    summary.connected = { remotePeer: conn.remotePeer.toString(), encryption: conn.encryption, multiplexer: conn.multiplexer, ms: Math.round(performance.now() - t0) }
    out({ event: 'connected', ...summary.connected })

    const { records, pages } = await syncAll(node, ma, syncLimit, signal)
    summary.sync = { pages, records: records.filter((r) => r.kind === 'record').length, tombstones: records.filter((r) => r.kind === 'tombstone').length }

    const target = fetchId != null
      ? records.find((r) => r.kind === 'record' && r.id === fetchId)
      : records.find((r) => r.kind === 'record' && r.held)
    if (fetchId != null && target == null) throw new ProtocolError(`no record ${fetchId} came through sync`)
    let fullBytes = null
    if (target != null) {
      const t1 = performance.now()
      const res = await fetchBlob(node, ma, target.id, target.size, signal, { keep: doProbes })
      fullBytes = res.bytes
      summary.fetch = { id: target.id, ...res, ms: Math.round(performance.now() - t1) }
      out({ event: 'fetch', ...summary.fetch })
      if (target.pieces != null) {
        const res2 = await fetchPieces(node, ma, target.id, target.size, target.pieces, signal)
        summary.fetch_pieces = { id: target.id, pieceSize: target.pieces.size, ...res2 }
        out({ event: 'fetch_pieces', ...summary.fetch_pieces })
      }
    }

    if (doSearch && target != null && typeof target.name === 'string') {
      const query = {
        user_info: { semantic_spec: { Name: { Type: 'String', Values: target.name } }, stat_info: {} },
        limit: 10
      }
      const body = msgpackDecode(await request(node, ma, SEARCH, msgpackEncode(query), signal))
      exactKeys(body, ['result', 'records'], 'search response')
      const verified = body.records.map(checkEnvelope)
      const single = (body.result?.single ?? []).map((m) => ({ id: m.id, score: m.score }))
      summary.search = { query: target.name, single, records: verified.map((r) => r.id), multiple: body.result?.multiple != null }
      out({ event: 'search', ...summary.search })
    }
    if (doProbes && target != null) {
      summary.probes = await probes(node, ma, target, fullBytes, signal)
      for (const p of summary.probes) out({ event: 'probe', ...p })
    }
    summary.ok = summary.sync.records > 0 && summary.fetch?.verified === true && (summary.probes ?? []).every((p) => p.ok) &&
      (target?.pieces == null || summary.fetch_pieces?.verified === true)
  } catch (err) {
    noteError(summary, err)
  }
  await finish(summary, node, t0, out)
}

/** Record a failure in the summary (and its stack on stderr when LWDOCK_INTEROP_DEBUG is set). */
function noteError (summary, err) {
  summary.error = `${err.name}: ${err.message}`
  if (process.env.LWDOCK_INTEROP_DEBUG) process.stderr.write(`${err.stack}\n`)
}

/** Print the summary line, stop the node, exit 0 when summary.ok. */
async function finish (summary, node, t0, print) {
  summary.ms = Math.round(performance.now() - t0)
  print(summary)
  await node.stop().catch(() => {})
  process.exit(summary.ok ? 0 : 1)
}

export { checkEnvelope, fetchBlob, fetchPieces, finish, frame, noteError, request, syncAll, uvarint, verifySigned, Reader }

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    process.stderr.write(`${err.stack ?? err}\n`)
    process.exit(1)
  })
}

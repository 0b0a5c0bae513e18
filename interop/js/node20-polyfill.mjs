// js-libp2p 3.x calls Promise.withResolvers (ES2024, Node >= 22). This box has Node 20, where it is
// missing; it is the only such API the pinned dependency tree uses (grep node_modules for
// `Promise.withResolvers`, `Array.fromAsync`, ...). Imported first by client.mjs; a no-op on Node 22+.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}

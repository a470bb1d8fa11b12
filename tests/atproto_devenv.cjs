// Start a real AT Protocol network from @atproto/dev-env for the tests: PLC directory, PDS and,
// when DB_POSTGRES_URL is set, the AppView (bsky: notifications, threads, feeds, indexed from the
// PDS's firehose into that PostgreSQL) with the moderation service it is wired to (ozone, same
// PostgreSQL). Every server is bound to 127.0.0.1 (dev-env listens on all interfaces by default).
// Prints one JSON line {"pds": URL, "appview": URL or null, "startMs": N} when ready. Then reads
// commands, one a line, on stdin and answers each with one JSON line:
//   sync  -> the AppView has indexed everything the PDS has sequenced (network.processAll)
// Closes the network when stdin ends (the test is done).
const net = require('net')
const readline = require('readline')
const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && (args.length === 1 || typeof args[1] === 'function')) {
    args.splice(1, 0, '127.0.0.1')
  } else if (args[0] && typeof args[0] === 'object' && !args[0].host && !args[0].path) {
    args[0] = { ...args[0], host: '127.0.0.1' }
  }
  return listen.apply(this, args)
}
const { TestNetwork, TestNetworkNoAppView } = require('@atproto/dev-env')

const SYNC_TIMEOUT_MS = 20000

;(async () => {
  const began = Date.now()
  const postgres = process.env.DB_POSTGRES_URL
  // dev-env 0.3.215 asserts REDIS_HOST is set, but no service it starts opens a Redis connection
  // (bsky's Redis class is only exported; the PDS uses Redis only with its own redisScratch
  // setting, unset here): the value is never dialled.
  if (postgres && !process.env.REDIS_HOST) process.env.REDIS_HOST = '127.0.0.1:1'
  const network = postgres
    ? await TestNetwork.create({ dbPostgresUrl: postgres, dbPostgresSchema: 'bridge' })
    : await TestNetworkNoAppView.create({})
  const appview = postgres ? network.bsky.url : null
  process.stdout.write(JSON.stringify({ pds: network.pds.url, appview, startMs: Date.now() - began }) + '\n')
  const lines = readline.createInterface({ input: process.stdin })
  let queue = Promise.resolve()
  lines.on('line', (line) => {
    queue = queue.then(async () => {
      try {
        if (line.trim() !== 'sync') throw new Error(`unknown command ${JSON.stringify(line)}`)
        await (postgres ? network.processAll(SYNC_TIMEOUT_MS) : network.pds.processAll())
        process.stdout.write(JSON.stringify({ synced: true }) + '\n')
      } catch (err) {
        process.stdout.write(JSON.stringify({ error: String(err) }) + '\n')
      }
    })
  })
  lines.on('close', () => {
    queue.then(() => network.close()).then(() => process.exit(0), (err) => {
      console.error(err)
      process.exit(1)
    })
  })
})().catch((err) => {
  console.error(err)
  process.exit(1)
})

// Start a real AT Protocol network (PLC directory + PDS, from @atproto/dev-env) for the tests.
// Every server is bound to 127.0.0.1 (dev-env listens on all interfaces by default). Prints one
// JSON line {"pds": URL} when ready; closes the network when stdin ends (the test is done).
const net = require('net')
const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && (args.length === 1 || typeof args[1] === 'function')) {
    args.splice(1, 0, '127.0.0.1')
  } else if (args[0] && typeof args[0] === 'object' && !args[0].host && !args[0].path) {
    args[0] = { ...args[0], host: '127.0.0.1' }
  }
  return listen.apply(this, args)
}
const { TestNetworkNoAppView } = require('@atproto/dev-env')

;(async () => {
  const network = await TestNetworkNoAppView.create({})
  process.stdout.write(JSON.stringify({ pds: network.pds.url }) + '\n')
  process.stdin.on('end', async () => {
    await network.close()
    process.exit(0)
  })
  process.stdin.resume()
})().catch((err) => {
  console.error(err)
  process.exit(1)
})

// An endpoint that is NOT an AWS service (a FAKE, not a store): an HTTP server that answers every
// request 200 with an empty JSON object, the way a misrouted endpoint override, a catch-all proxy
// or a health page can. The AWS SDK parses that as a successful call with no fields, so a store
// that took it at its word would read every layer as empty. It stands for "the store is not there"
// in the contract's missingStore case of both AWS stores.
import { createServer } from 'node:http'
import { listenOnLoopback, type LoopbackFake } from '../../servers/common.js'

export type NotTheService = LoopbackFake

export async function startNotTheService (): Promise<NotTheService> {
  let seen = 0
  const server = createServer((req, res) => {
    seen++
    req.resume()
    res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': `not-the-service-${seen}` })
    res.end('{}')
  })
  return await listenOnLoopback(server, () => seen)
}

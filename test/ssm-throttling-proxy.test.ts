// bench/ssm-throttling-proxy.ts (a fake in front of the real moto server, for npm run bench:burst):
// the AWS SDK sees exactly AWS's ThrottlingException over the limit, everything else reaches moto
// unchanged, and the proxy counts both per action.
import { GetParameterCommand, GetParametersByPathCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm'
import t from 'tap'
import { startSsmThrottlingProxy, THROTTLING_BODY } from '../bench/ssm-throttling-proxy.js'
import { awsStoreError } from '../backends/aws/client.js'
import { MOTO_CREDENTIALS, MOTO_REGION, startMotoForSuite } from './servers/moto.js'

const moto = await startMotoForSuite(t, 'ssm-throttling-proxy')
if (moto !== undefined) {
  t.teardown(moto.stop)

  t.test('over the bucket: HTTP 400 ThrottlingException "Rate exceeded" as AWS sends it; under it: moto\'s own answers', async t => {
    let now = 0
    const proxy = await startSsmThrottlingProxy({ target: moto.endpoint, callsPerSecond: 2, burst: 3, now: () => now })
    t.teardown(proxy.close)
    const client = new SSMClient({ region: MOTO_REGION, endpoint: proxy.endpoint, credentials: MOTO_CREDENTIALS, maxAttempts: 1 })
    t.teardown(() => client.destroy())

    await client.send(new PutParameterCommand({ Name: '/proxy/test/A', Value: 'through', Type: 'String' }))
    const page = await client.send(new GetParametersByPathCommand({ Path: '/proxy/test' }))
    t.same(page.Parameters?.map(p => [p.Name, p.Value]), [['/proxy/test/A', 'through']], 'forwarded to moto unchanged')
    await client.send(new GetParameterCommand({ Name: '/proxy/test/A' }))

    const err = await client.send(new GetParametersByPathCommand({ Path: '/proxy/test' })).catch((e: unknown) => e)
    t.match(err, { name: 'ThrottlingException', message: 'Rate exceeded', $fault: 'client', $metadata: { httpStatusCode: 400 } }, 'the SDK reads AWS\'s throttling answer')
    t.match(awsStoreError(err, 'GetParametersByPath /proxy/test'), { code: 'NFSS_STORE_UNAVAILABLE', throttled: {} }, 'which the backend types as throttled')

    const raw = await fetch(proxy.endpoint, { method: 'POST', headers: { 'x-amz-target': 'AmazonSSM.GetParameter', 'content-type': 'application/x-amz-json-1.1' }, body: '{}' })
    t.equal(raw.status, 400)
    t.equal(raw.headers.get('x-amzn-errortype'), 'ThrottlingException')
    t.equal(raw.headers.get('content-type'), 'application/x-amz-json-1.1')
    t.equal(await raw.text(), THROTTLING_BODY)

    now += 1000 // two tokens back at 2/s, shared by every action
    await client.send(new GetParameterCommand({ Name: '/proxy/test/A' }))
    await client.send(new GetParametersByPathCommand({ Path: '/proxy/test' }))
    await t.rejects(client.send(new GetParameterCommand({ Name: '/proxy/test/A' })), { name: 'ThrottlingException' })

    t.same(proxy.counts(), {
      PutParameter: { forwarded: 1, throttled: 0 },
      GetParametersByPath: { forwarded: 2, throttled: 1 },
      GetParameter: { forwarded: 2, throttled: 2 }
    })
    t.same(proxy.totals(), { forwarded: 5, throttled: 3 })
  })

  t.test('the SDK\'s adaptive retry backs off and gets through once the bucket refills', async t => {
    const proxy = await startSsmThrottlingProxy({ target: moto.endpoint, callsPerSecond: 5, burst: 1 })
    t.teardown(proxy.close)
    const client = new SSMClient({ region: MOTO_REGION, endpoint: proxy.endpoint, credentials: MOTO_CREDENTIALS, maxAttempts: 5, retryMode: 'adaptive' })
    t.teardown(() => client.destroy())
    await Promise.all(Array.from({ length: 3 }, async () => await client.send(new GetParametersByPathCommand({ Path: '/proxy/none' }))))
    const totals = proxy.totals()
    t.equal(totals.forwarded, 3, 'every call answered in the end')
    t.ok(totals.throttled >= 1, `after ${totals.throttled} throttled attempt(s)`)
  })
}

// What both AWS stores must do with answers moto cannot produce, from a fault-injecting FAKE in
// front (test/servers/moto.ts, startAwsFaultFake): AWS-shaped AccessDenied and throttling.
import type { Test } from 'tap'
import type { Backend } from '../../../src/store/port.js'
import { callStore } from '../../../src/store-call.js'
import { startAwsFaultFake } from '../../servers/moto.js'
import { uniqueIdentity } from '../contract.js'

export interface AwsFaultOptions {
  /** The store type, for test names. */
  store: string
  /** The store's backend with config keys added (endpoint, maxAttempts). */
  create: (extra: Record<string, unknown>) => Backend
  /** Attempts one read may make when every call is throttled, maxAttempts 3 (SSM walks twice when its templates nest). */
  readAttempts: readonly [min: number, max: number]
}

export async function awsFaultCases (t: Test, { store, create, readAttempts }: AwsFaultOptions): Promise<void> {
  await t.test(`${store}: AccessDenied is NFSS_STORE_DENIED naming the locator, not the principal`, async t => {
    const fake = await startAwsFaultFake({ type: 'AccessDeniedException' })
    t.teardown(fake.close)
    const denied = create({ endpoint: fake.endpoint })
    const locator = denied.locate('object', uniqueIdentity()) as string
    const err = await callStore(denied, locator, 10_000).catch((e: Error) => e)
    t.match(err, { code: 'NFSS_STORE_DENIED' })
    t.match((err as Error).message, locator)
    t.notMatch((err as Error).message, /fake-secret-principal|testing/)
    await t.rejects(denied.ready(AbortSignal.timeout(5000)), { code: 'NFSS_STORE_DENIED' })
  })

  await t.test(`${store}: throttling is retried maxAttempts times per call, then NFSS_STORE_UNAVAILABLE (never empty)`, async t => {
    const fake = await startAwsFaultFake({ type: 'ThrottlingException' })
    t.teardown(fake.close)
    const throttled = create({ endpoint: fake.endpoint, maxAttempts: 3 })
    const err = await callStore(throttled, throttled.locate('object', uniqueIdentity()) as string, 10_000).catch((e: Error) => e)
    t.match(err, { code: 'NFSS_STORE_UNAVAILABLE', message: /ThrottlingException.*3 attempt.*throttled/ })
    const afterRead = fake.requests()
    const [min, max] = readAttempts
    t.ok(afterRead >= min && afterRead <= max, `${afterRead} attempts (${min}..${max}); a second walk is aborted once one fails`)
    await t.rejects(throttled.ready(AbortSignal.timeout(10_000)), { code: 'NFSS_STORE_UNAVAILABLE' })
    t.equal(fake.requests() - afterRead, 3, 'one readiness call: exactly maxAttempts attempts')
  })
}

// The Key Vault test server (a test server written to Microsoft's REST description and recorded
// exchanges, not Azure); see server.ts for what clients must configure to use it.
export { startKeyVaultTestServer } from './server.js'
export type { KeyVaultTestServer, KeyVaultTestServerOptions, SetSecretOptions, UpdateSecretPatch } from './server.js'
export type { LoggedRequest } from './http.js'
export { supportedApiVersions } from './vault-api.js'
export { recoverableDays, recoveryLevel } from './store.js'

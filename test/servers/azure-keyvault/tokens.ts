// The bearer tokens the identity endpoints issue and the vault accepts. Real Entra ID tokens are
// JWTs the vault validates by signature; here they are opaque random strings looked up in this
// registry, which is all a client may assume about them anyway.
import { randomBytes } from 'node:crypto'

export const vaultResource = 'https://vault.azure.net'
export const vaultScope = `${vaultResource}/.default`

export interface IssuedToken {
  token: string
  clientId: string
  /** Unix seconds. */
  expiresOn: number
}

export class TokenRegistry {
  private readonly tokens = new Map<string, IssuedToken>()

  issue (clientId: string, lifetimeSeconds: number): IssuedToken {
    const token = randomBytes(32).toString('base64url')
    const issued = { token, clientId, expiresOn: Math.floor(Date.now() / 1000) + lifetimeSeconds }
    this.tokens.set(token, issued)
    return issued
  }

  find (token: string): IssuedToken | undefined {
    return this.tokens.get(token)
  }
}

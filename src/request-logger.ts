// request.log, made only when a request logs something. Fastify gives every request a pino child
// (bindings: its reqId) before any hook runs; a warm answer logs nothing through it (its audit
// line has a logger of its own), and making the child cost 1-4% of a warm request's CPU (two
// A/B runs, bench/results.md). The child is made on first use with the same bindings and options, so a
// line reads as it did.
import type { FastifyBaseLogger } from 'fastify'
import type { Bindings, ChildLoggerOptions, Level, LevelWithSilentOrString } from 'pino'

type LogArgs = [obj: unknown, msg?: string, ...args: unknown[]]

export class RequestLogger {
  #child: FastifyBaseLogger | undefined

  constructor (private readonly parent: FastifyBaseLogger, private readonly bindings: Bindings, private readonly options: ChildLoggerOptions) {}

  /** The pino child Fastify would have made. */
  get logger (): FastifyBaseLogger {
    return this.#child ??= this.parent.child(this.bindings, this.options)
  }

  get level (): LevelWithSilentOrString {
    return this.#child?.level ?? this.options.level ?? this.parent.level
  }

  set level (level: LevelWithSilentOrString) {
    this.logger.level = level
  }

  isLevelEnabled (level: Level): boolean {
    return (this.logger as unknown as { isLevelEnabled: (level: Level) => boolean }).isLevelEnabled(level)
  }

  // Prototype methods, not arrow fields: one object per request, no closures.
  fatal (...args: LogArgs): void { this.logger.fatal(...args) }
  error (...args: LogArgs): void { this.logger.error(...args) }
  warn (...args: LogArgs): void { this.logger.warn(...args) }
  info (...args: LogArgs): void { this.logger.info(...args) }
  debug (...args: LogArgs): void { this.logger.debug(...args) }
  trace (...args: LogArgs): void { this.logger.trace(...args) }
  silent (): void {}

  child (bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.logger.child(bindings, options)
  }
}

/** Fastify's childLoggerFactory. */
export function lazyRequestLogger (logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  return new RequestLogger(logger, bindings, options) as unknown as FastifyBaseLogger
}

import { writeFileSync } from 'node:fs'

/**
 * The shared harness: times async operations one at a time (latency, not
 * throughput under contention), reports percentiles and each row's ratio to
 * the floor measured in the same run. Never used to assert anything.
 */

export interface Measurement {
  readonly scenario: string
  readonly name: string
  /** The row this one is compared with; `undefined` for floors. */
  readonly floor: string | undefined
  readonly samples: number
  readonly p50Us: number
  readonly p95Us: number
  readonly p99Us: number
  readonly opsPerSecond: number
  /**
   * CPU this process spent per operation (user + system, `process.cpuUsage()`), background work
   * it started included; undefined for rows measured in other processes.
   */
  readonly cpuUsPerOp: number | undefined
  /** Redis's CPU per operation (`INFO cpu`, main thread and I/O), when the run has Redis. */
  readonly redisCpuUsPerOp: number | undefined
  /** A sorted subsample of the latencies, for the plot. */
  readonly distributionUs: readonly number[]
}

export interface MeasureOptions {
  readonly iterations: number
  readonly warmup: number
  /** The row name this one is a ratio of. */
  readonly floor?: string
}

/** A fact about a system in a scenario that is not a latency: its setup, or how its results differ. */
export interface Note {
  readonly scenario: string
  readonly subject: string
  readonly text: string
}

export interface Run {
  readonly quick: boolean
  readonly progress: Progress
  note(scenario: string, subject: string, text: string): void
  measure(
    scenario: string,
    name: string,
    operation: () => Promise<unknown>,
    options?: Partial<MeasureOptions>,
  ): Promise<Measurement>
  /** Adds latencies measured elsewhere (across processes, say) as a row. */
  record(
    scenario: string,
    name: string,
    latenciesUs: ArrayLike<number>,
    floor?: string,
    opsPerSecond?: number,
  ): Measurement
}

/** CPU Redis has used since it started, in µs: read before and after each row. */
export type RedisCpuProbe = () => Promise<number>

export function createRun(
  quick: boolean,
  totalSteps: number,
  redisCpuUs?: RedisCpuProbe,
): Run & { readonly results: Measurement[]; readonly notes: Note[] } {
  const results: Measurement[] = []
  const notes: Note[] = []
  const progress = new Progress(totalSteps)
  return {
    quick,
    progress,
    results,
    notes,
    note(scenario, subject, text) {
      notes.push({ scenario, subject, text })
    },
    async measure(scenario, name, operation, options = {}) {
      const iterations = options.iterations ?? (quick ? 500 : 10_000)
      const warmup = options.warmup ?? Math.ceil(iterations / 10)
      progress.label(`${scenario}: ${name}`)
      for (let i = 0; i < warmup; i++) await operation()
      const latencies = new Float64Array(iterations)
      const redisBefore = await redisCpuUs?.()
      const cpuBefore = process.cpuUsage()
      const started = process.hrtime.bigint()
      for (let i = 0; i < iterations; i++) {
        const before = process.hrtime.bigint()
        await operation()
        latencies[i] = Number(process.hrtime.bigint() - before) / 1_000
      }
      const totalUs = Number(process.hrtime.bigint() - started) / 1_000
      const cpu = process.cpuUsage(cpuBefore)
      const redisAfter = await redisCpuUs?.()
      const redisUs = redisBefore === undefined || redisAfter === undefined ? undefined : redisAfter - redisBefore
      return recordRow(scenario, name, latencies, options.floor, (iterations / totalUs) * 1_000_000, {
        cpuUsPerOp: (cpu.user + cpu.system) / iterations,
        redisCpuUsPerOp: redisUs === undefined ? undefined : redisUs / iterations,
      })
    },
    record(scenario, name, latenciesUs, floor, opsPerSecond) {
      return recordRow(scenario, name, latenciesUs, floor, opsPerSecond)
    },
  }

  function recordRow(
    scenario: string,
    name: string,
    latenciesUs: ArrayLike<number>,
    floor: string | undefined,
    opsPerSecond: number | undefined,
    cpu: Pick<Measurement, 'cpuUsPerOp' | 'redisCpuUsPerOp'> = { cpuUsPerOp: undefined, redisCpuUsPerOp: undefined },
  ): Measurement {
    const sorted = Float64Array.from(latenciesUs).sort()
    const measurement: Measurement = {
      scenario,
      name,
      floor,
      samples: sorted.length,
      p50Us: quantile(sorted, 0.5),
      p95Us: quantile(sorted, 0.95),
      p99Us: quantile(sorted, 0.99),
      opsPerSecond: opsPerSecond ?? 1_000_000 / (sorted.reduce((sum, us) => sum + us, 0) / sorted.length),
      ...cpu,
      distributionUs: Array.from({ length: 101 }, (_, i) => quantile(sorted, i / 100)),
    }
    results.push(measurement)
    progress.step()
    return measurement
  }
}

/** The columns of every table after the row's name, for the terminal and the markdown report alike. */
export const TABLE_COLUMNS = ['p50 µs', 'p95 µs', 'p99 µs', 'ops/s', 'CPU µs/op', 'Redis CPU µs/op', 'p50 vs floor']

export function tableCells(row: Measurement, rows: readonly Measurement[], floorLabel: string): string[] {
  const floor = row.floor === undefined ? undefined : rows.find((candidate) => candidate.name === row.floor)
  const perOp = (us: number | undefined) => (us === undefined || !Number.isFinite(us) ? '–' : us.toFixed(1))
  return [
    row.p50Us.toFixed(1),
    row.p95Us.toFixed(1),
    row.p99Us.toFixed(1),
    Math.round(row.opsPerSecond).toLocaleString('en'),
    perOp(row.cpuUsPerOp),
    perOp(row.redisCpuUsPerOp),
    floor === undefined ? floorLabel : `${(row.p50Us / floor.p50Us).toFixed(2)}× ${floor.name}`,
  ]
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN
}

/** A one-line progress bar on stderr when it is a terminal; plain lines otherwise (CI logs). */
export class Progress {
  readonly #total: number
  #done = 0
  #current = ''

  constructor(total: number) {
    this.#total = Math.max(total, 1)
  }

  label(text: string): void {
    this.#current = text
    this.#draw()
  }

  step(): void {
    this.#done = Math.min(this.#done + 1, this.#total)
    this.#draw()
  }

  finish(): void {
    if (process.stderr.isTTY) process.stderr.write('\n')
  }

  #draw(): void {
    const width = 30
    const filled = Math.round((this.#done / this.#total) * width)
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.#done}/${this.#total} ${this.#current}`
    if (process.stderr.isTTY)
      process.stderr.write(`\r${bar.slice(0, process.stderr.columns - 1).padEnd(process.stderr.columns - 1)}`)
    else process.stderr.write(`${bar}\n`)
  }
}

/** One table per scenario: percentiles, throughput, and the ratio of each row's p50 to its floor's; then its notes. */
export function formatTables(results: readonly Measurement[], notes: readonly Note[] = []): string {
  const scenarios = [...new Set([...results, ...notes].map((result) => result.scenario))]
  const lines: string[] = []
  for (const scenario of scenarios) {
    const rows = results.filter((result) => result.scenario === scenario)
    lines.push('', scenario)
    const header = ['', ...TABLE_COLUMNS]
    const body = rows.map((row) => [row.name, ...tableCells(row, rows, '(floor)')])
    const widths = header.map((_, column) => Math.max(...[header, ...body].map((cells) => cells[column]?.length ?? 0)))
    const format = (cells: string[]) =>
      cells
        .map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0)))
        .join('  ')
    if (body.length > 0) lines.push(format(header), ...body.map(format))
    for (const note of notes.filter((candidate) => candidate.scenario === scenario)) {
      lines.push(`  ${note.subject}: ${note.text}`)
    }
  }
  return lines.join('\n')
}

/**
 * Latency distributions as an SVG: per scenario, each row's p1…p99 as a
 * horizontal band on a log scale, with its p50 marked. Plain SVG, no dependency.
 */
export function renderSvg(results: readonly Measurement[], title: string): string {
  const rowHeight = 22
  const left = 330
  const width = 1000
  const plotWidth = width - left - 30
  const all = results.flatMap((result) => [result.distributionUs[1] ?? 1, result.distributionUs[99] ?? 1])
  const min = Math.max(Math.min(...all) / 1.5, 0.01)
  const max = Math.max(...all) * 1.5
  const x = (us: number) => left + (Math.log10(Math.max(us, min) / min) / Math.log10(max / min)) * plotWidth
  const parts: string[] = []
  let y = 50
  for (const scenario of [...new Set(results.map((result) => result.scenario))]) {
    parts.push(`<text x="10" y="${y}" font-weight="bold">${escapeXml(scenario)}</text>`)
    y += rowHeight
    for (const row of results.filter((result) => result.scenario === scenario)) {
      const p1 = row.distributionUs[1] ?? row.p50Us
      const p99 = row.distributionUs[99] ?? row.p99Us
      parts.push(
        `<text x="20" y="${y + 5}">${escapeXml(row.name)}</text>`,
        `<rect x="${x(p1).toFixed(1)}" y="${y - 6}" width="${Math.max(x(p99) - x(p1), 1).toFixed(1)}" height="12" fill="#9ecae1"/>`,
        `<line x1="${x(row.p50Us).toFixed(1)}" x2="${x(row.p50Us).toFixed(1)}" y1="${y - 8}" y2="${y + 8}" stroke="#08519c" stroke-width="2"/>`,
      )
      y += rowHeight
    }
    y += 8
  }
  const ticks: string[] = []
  for (let decade = 10 ** Math.floor(Math.log10(min)); decade <= max; decade *= 10) {
    if (decade < min) continue
    ticks.push(
      `<line x1="${x(decade).toFixed(1)}" x2="${x(decade).toFixed(1)}" y1="35" y2="${y}" stroke="#ddd"/>`,
      `<text x="${x(decade).toFixed(1)}" y="30" text-anchor="middle">${decade >= 1000 ? `${decade / 1000} ms` : `${decade} µs`}</text>`,
    )
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 20}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="16" font-size="14">${escapeXml(title)} — band p1–p99, mark p50, log scale</text>`,
    ...ticks,
    ...parts,
    '</svg>',
  ].join('\n')
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (character) => `&#${character.charCodeAt(0)};`)
}

export function writeJson(path: string, value: unknown): void {
  writeFileSync(path, `${JSON.stringify(value, (_, item) => (typeof item === 'bigint' ? String(item) : item), 2)}\n`)
}

import { type Measurement, type Note, TABLE_COLUMNS, tableCells } from './harness.js'

/** One of the benchmarks issue's targets, with the ratio measured in this run. */
export interface TargetResult {
  readonly target: string
  readonly measured: string
  readonly met: boolean | undefined
}

/**
 * The targets, each a ratio of two rows of the same run (p50s), so a slower
 * or busier machine moves both sides: L1 hit against Prisma's no-op query
 * extension, L2 hit against prisma-extension-redis's hit, miss against the
 * uncached query, and one database query per stampede.
 */
export function evaluateTargets(results: readonly Measurement[], notes: readonly Note[]): TargetResult[] {
  const row = (scenarioStart: string, name: string) =>
    results.find((result) => result.scenario.startsWith(scenarioStart) && result.name === name)
  const ratio = (
    target: string,
    scenario: string,
    numerator: string,
    denominator: string,
    limit: number,
  ): TargetResult => {
    const top = row(scenario, numerator)
    const bottom = row(scenario, denominator)
    if (top === undefined || bottom === undefined) return { target, measured: 'not measured', met: undefined }
    const value = top.p50Us / bottom.p50Us
    return {
      target,
      measured: `${value.toFixed(2)}× (${top.p50Us.toFixed(1)} µs / ${bottom.p50Us.toFixed(1)} µs)`,
      met: value <= limit,
    }
  }
  const stampede = notes.find((note) => note.scenario.startsWith('stampede') && note.subject === 'prisma ormcache')
  const typeormStampede = notes.find(
    (note) => note.scenario.startsWith('stampede') && note.subject === 'typeorm ormcache',
  )
  const oneQuery = (note: Note | undefined, target: string): TargetResult =>
    note === undefined
      ? { target, measured: 'not measured', met: undefined }
      : { target, measured: note.text.split(',')[0] ?? note.text, met: note.text.startsWith('1 database query') }
  const exact = notes.filter(
    (note) =>
      note.scenario.includes(' by id') && note.subject.startsWith('ormcache') && note.text.includes('hit result'),
  )
  return [
    ratio(
      'L1 hit ≤ 1.0× the no-op extension (Prisma findUnique)',
      'prisma by id',
      'ormcache hit',
      'no-op extension (floor)',
      1.0,
    ),
    ratio(
      'L2 hit ≤ 0.6× prisma-extension-redis hit',
      'prisma by id',
      'ormcache (L1 off) hit',
      'prisma-extension-redis hit',
      0.6,
    ),
    ratio('miss ≤ 1.15× uncached (Prisma findUnique)', 'prisma by id', 'ormcache miss', 'uncached (floor)', 1.15),
    ratio('miss ≤ 1.15× uncached (TypeORM findOne)', 'typeorm by id', 'ormcache miss', 'uncached (floor)', 1.15),
    oneQuery(stampede, 'stampede: 1 database query over 4 processes (Prisma)'),
    oneQuery(typeormStampede, 'stampede: 1 database query over 4 processes (TypeORM)'),
    {
      target: 'exact types with default settings',
      measured:
        exact.length === 0 ? 'not measured' : exact.every((note) => note.text.endsWith('exact')) ? 'exact' : 'differs',
      met: exact.length === 0 ? undefined : exact.every((note) => note.text.endsWith('exact')),
    },
  ]
}

export function formatTargets(targets: readonly TargetResult[]): string {
  const lines = ['', 'targets (ratios of p50s in this run)']
  for (const { target, measured, met } of targets) {
    lines.push(`  ${met === undefined ? '–' : met ? 'met   ' : 'missed'}  ${target}: ${measured}`)
  }
  return lines.join('\n')
}

/** The tables and targets as Markdown, for the README. */
export function markdownReport(
  header: string,
  results: readonly Measurement[],
  notes: readonly Note[],
  targets: readonly TargetResult[],
) {
  const lines: string[] = [header, '', '| target | measured | |', '| --- | --- | --- |']
  for (const { target, measured, met } of targets) {
    lines.push(`| ${target} | ${measured} | ${met === undefined ? '–' : met ? 'met' : 'missed'} |`)
  }
  for (const scenario of [...new Set([...results, ...notes].map((item) => item.scenario))]) {
    lines.push('', `**${scenario}**`, '')
    const rows = results.filter((result) => result.scenario === scenario)
    if (rows.length > 0) {
      lines.push(
        `| | ${TABLE_COLUMNS.join(' | ')} |`,
        `| --- | ${TABLE_COLUMNS.map((_, column) => (column === TABLE_COLUMNS.length - 1 ? '---' : '---:')).join(' | ')} |`,
      )
      for (const row of rows) lines.push(`| ${row.name} | ${tableCells(row, rows, 'floor').join(' | ')} |`)
    }
    for (const note of notes.filter((candidate) => candidate.scenario === scenario)) {
      lines.push(`- ${note.subject}: ${note.text}`)
    }
  }
  return `${lines.join('\n')}\n`
}

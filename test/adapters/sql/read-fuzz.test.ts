// Random reads that carry write words where no statement starts (quoted and
// qualified names, aliases, function names, strings, comments, locking
// clauses) must stay reads in every dialect, and adding a data-modifying
// statement to one must make it a write. Reproducible: a fixed seed, which
// fast-check prints with the shrunk counterexample when a property fails;
// ORMCACHE_SQL_FUZZ_SEED and ORMCACHE_SQL_FUZZ_RUNS try others.
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { analyzeSql } from '../../../adapters/sql/effect.js'
import { DIALECT_RULES, type Dialect } from '../../../adapters/sql/lexer.js'
import { parseSql } from '../../../adapters/sql/statements.js'

const SEED = Number(process.env.ORMCACHE_SQL_FUZZ_SEED ?? 14)
const RUNS = Number(process.env.ORMCACHE_SQL_FUZZ_RUNS ?? 1_000)

const WRITE_WORDS = [
  'insert',
  'update',
  'delete',
  'replace',
  'merge',
  'truncate',
  'drop',
  'alter',
  'create',
  'grant',
  'revoke',
  'call',
  'do',
  'copy',
  'lock',
  'set',
  'into',
  'exec',
  'execute',
  'rename',
  'load',
  'begin',
  'commit',
  'rollback',
  'vacuum',
] as const
const NAMES = ['id', 'name', 'users', 'posts', 'jobs', 'a', 'b'] as const

const cased = (word: string) =>
  fc.constantFrom(word.toUpperCase(), word.toLowerCase(), word[0]!.toUpperCase() + word.slice(1))
const writeWord = fc.constantFrom(...WRITE_WORDS).chain(cased)
const plainName = fc.constantFrom(...NAMES)
const anyWord = fc.oneof(writeWord, plainName)
/** A keyword, upper or lower case. */
const kw = (word: string) => fc.constantFrom(word.toUpperCase(), word.toLowerCase())

/**
 * Text for strings, quoted names and comments: write words among the
 * characters that end or escape those. No piece holds a `q`, so the
 * `$q$` of a dollar-quoted string never occurs inside one.
 */
const text = fc
  .array(
    fc.oneof(
      writeWord,
      fc.constantFrom(' ', '\n', ';', "'", '"', '`', '[', ']', '\\', '--', '/*', '*/', '#', '$$', '(', ')', 'FROM t'),
    ),
    { minLength: 1, maxLength: 6 },
  )
  .map((pieces) => pieces.join(''))

/** How a database family writes what the generated reads are made of. */
interface Style {
  /** `any`: the text is read by `analyzeSql`, under the rules of several dialects at once. */
  readonly dialect: Dialect | 'any'
  readonly quotedName: fc.Arbitrary<string>
  readonly string: fc.Arbitrary<string>
  readonly comment: fc.Arbitrary<string>
  readonly locking: fc.Arbitrary<string> | undefined
}

const quoted = (open: string, close: string) => (value: string) =>
  `${open}${value.replaceAll(close, close + close)}${close}`
const withoutBackslash = (value: string) => value.replaceAll('\\', '')
const lineComment = text.map((value) => `-- ${value.replaceAll('\n', ' ')}\n`)
// Star-free: neither ends the comment early nor opens a nested one (PostgreSQL nests).
const blockComment = text.map((value) => `/* ${value.replaceAll('*', '')} */`)
const standardString = text.map(quoted("'", "'"))
const dollarString = fc.oneof(
  text.map((value) => `$$${value.replaceAll('$', '')}$$`),
  text.map((value) => `$q$${value}$q$`),
)

/** A SQL fragment: its parts in order, separated by spaces, new lines or comments. */
type Part = string | fc.Arbitrary<string>

function grammar(style: Style) {
  const gap = fc.oneof(
    { arbitrary: fc.constant(' '), weight: 12 },
    { arbitrary: fc.constant('\n'), weight: 1 },
    { arbitrary: style.comment.map((comment) => ` ${comment} `), weight: 2 },
  )
  const sql = (...parts: Part[]): fc.Arbitrary<string> =>
    fc
      .tuple(
        fc.tuple(...parts.map((part) => (typeof part === 'string' ? fc.constant(part) : part))),
        fc.array(gap, { minLength: parts.length, maxLength: parts.length }),
      )
      .map(([values, gaps]) => values.map((value, index) => (index === 0 ? value : gaps[index] + value)).join(''))
  const optional = (part: fc.Arbitrary<string>) => fc.oneof(fc.constant(''), part)
  const list = (item: fc.Arbitrary<string>) =>
    fc.array(item, { minLength: 1, maxLength: 2 }).map((items) => items.join(', '))

  // A write word stands unquoted only where it cannot start a statement: after a dot or AS.
  const name = fc.oneof(plainName, style.quotedName)
  const qualified = fc.oneof(name, sql(name, '.', fc.oneof(anyWord, style.quotedName)))
  const alias = fc.oneof(sql(kw('as'), fc.oneof(anyWord, style.quotedName)), plainName)
  const functionName = fc.oneof(writeWord, sql(plainName, '.', writeWord), style.quotedName, kw('coalesce'))
  const literal = fc.oneof(style.string, fc.nat(99).map(String))

  const queries = new Map<number, fc.Arbitrary<string>>()
  const query = (depth: number): fc.Arbitrary<string> => {
    let known = queries.get(depth)
    if (known === undefined) {
      const forms = [select(depth), union(depth)]
      if (depth > 0) forms.push(withQuery(depth))
      known = fc.oneof(...forms)
      queries.set(depth, known)
    }
    return known
  }

  const expression = (depth: number): fc.Arbitrary<string> => {
    const leaf = fc.oneof(qualified, literal)
    if (depth === 0) return leaf
    const inner = expression(depth - 1)
    const subquery = query(depth - 1)
    return fc.oneof(
      { arbitrary: leaf, weight: 8 },
      {
        arbitrary: sql(
          functionName,
          '(',
          fc.array(inner, { maxLength: 3 }).map((args) => args.join(', ')),
          ')',
        ),
        weight: 4,
      },
      sql(inner, fc.constantFrom('=', '||', '<>', '+'), inner),
      sql(kw('case'), kw('when'), inner, kw('then'), inner, kw('else'), inner, kw('end')),
      sql(kw('cast'), '(', inner, kw('as'), kw('text'), ')'),
      sql('(', subquery, ')'),
      sql(kw('exists'), '(', subquery, ')'),
      sql(qualified, kw('in'), '(', subquery, ')'),
    )
  }

  const fromItem = (depth: number): fc.Arbitrary<string> => {
    const table = sql(qualified, optional(alias))
    const item = depth === 0 ? table : fc.oneof(table, sql('(', query(depth - 1), ')', alias))
    return fc.oneof(item, sql(item, kw('join'), table, kw('on'), expression(depth === 0 ? 0 : depth - 1)))
  }

  const select = (depth: number): fc.Arbitrary<string> =>
    sql(
      kw('select'),
      optional(kw('distinct')),
      list(fc.oneof(fc.constant('*'), sql(expression(depth), optional(alias)))),
      optional(sql(kw('from'), list(fromItem(depth)))),
      optional(sql(kw('where'), expression(depth))),
      optional(sql(kw('order'), kw('by'), expression(depth))),
      optional(sql(kw('limit'), fc.nat(99).map(String))),
      style.locking === undefined ? '' : optional(style.locking),
    )

  const setOperator = fc.oneof(kw('union'), sql(kw('union'), kw('all')), kw('intersect'), kw('except'))
  const union = (depth: number) =>
    fc.oneof(
      sql('(', select(depth), ')', setOperator, '(', select(depth), ')'),
      sql(select(depth), setOperator, select(depth)),
    )

  const withQuery = (depth: number) => {
    const columns = sql('(', list(name), ')')
    const materialized = fc.oneof(kw('materialized'), sql(kw('not'), kw('materialized')))
    const cte = sql(name, optional(columns), kw('as'), optional(materialized), '(', query(depth - 1), ')')
    return sql(kw('with'), optional(kw('recursive')), list(cte), fc.oneof(select(depth - 1), union(depth - 1)))
  }

  const statement = (body: fc.Arbitrary<string>) =>
    sql(optional(style.comment), body, optional(fc.constant(';')), optional(style.comment))
  const read = statement(fc.oneof(query(2), sql('(', query(2), ')')))

  // A read a data-modifying statement is added to, before it or after it, or a SELECT … INTO.
  const target = fc.oneof(plainName, style.quotedName)
  const writeCte = fc.oneof(
    sql(kw('delete'), kw('from'), target, kw('returning'), '*'),
    sql(kw('update'), target, kw('set'), plainName, '=', literal, kw('returning'), '*'),
    sql(kw('insert'), kw('into'), target, kw('values'), '(', literal, ')', kw('returning'), '*'),
    sql(kw('merge'), kw('into'), target, kw('using'), plainName, kw('on'), 'a = b', kw('when'), kw('matched')),
  )
  const writeAfter = fc.oneof(
    sql(kw('insert'), kw('into'), target, kw('select'), '*', kw('from'), 'x'),
    sql(kw('replace'), kw('into'), target, kw('select'), '*', kw('from'), 'x'),
    sql(kw('update'), target, kw('set'), plainName, '=', literal),
    sql(kw('update'), '(', target, kw('join'), 'x', kw('on'), 'a = b', ')', kw('set'), plainName, '=', literal),
    sql(kw('delete'), kw('from'), target, kw('where'), expression(1)),
  )
  const mainRead = fc.oneof(select(1), union(1))
  const write = statement(
    fc.oneof(
      sql(kw('with'), 'w', kw('as'), '(', writeCte, ')', mainRead),
      sql(kw('with'), 'r', kw('as'), '(', mainRead, ')', sql(',', 'w', kw('as'), '(', writeCte, ')'), mainRead),
      sql(kw('with'), 'x', kw('as'), '(', query(1), ')', writeAfter),
      sql(kw('select'), '*', kw('into'), target, kw('from'), '(', query(1), ')', 's'),
      sql('(', kw('with'), 'w', kw('as'), '(', writeCte, ')', mainRead, ')'),
    ),
  )
  return { read, write }
}

const LOCKING_OPTIONS = (name: fc.Arbitrary<string>) => [
  fc.constant(''),
  fc.tuple(kw('of'), name).map((parts) => parts.join(' ')),
  kw('nowait'),
  fc.tuple(kw('skip'), kw('locked')).map((parts) => parts.join(' ')),
]
const lockingOf = (strengths: readonly string[], extra: readonly string[], name: fc.Arbitrary<string>) =>
  fc.oneof(
    fc
      .tuple(kw('for'), fc.constantFrom(...strengths).chain(cased), fc.oneof(...LOCKING_OPTIONS(name)))
      .map((parts) => parts.join(' ')),
    ...extra.map((clause) => fc.constant(clause)),
  )
const POSTGRES_LOCKS = ['update', 'no key update', 'share', 'key share']

const pgQuoted = text.map(quoted('"', '"'))
const mysqlQuoted = text.map(quoted('`', '`'))
const mysqlString = fc
  .tuple(text, fc.constantFrom("'", '"'), fc.boolean())
  .map(
    ([value, quote, backslash]) =>
      `${quote}${value.replaceAll('\\', '\\\\').replaceAll(quote, backslash ? `\\${quote}` : quote + quote)}${quote}`,
  )
const ansiQuoted = fc.oneof(pgQuoted, mysqlQuoted, text.map(quoted('[', ']')))

const STYLES: readonly Style[] = [
  {
    dialect: 'postgres',
    quotedName: pgQuoted,
    string: fc.oneof(
      standardString,
      dollarString,
      text.map((value) => `E'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`),
    ),
    comment: fc.oneof(
      lineComment,
      blockComment,
      fc.tuple(blockComment, blockComment).map(([outer, inner]) => `${outer.slice(0, -2)}${inner} */`),
    ),
    locking: lockingOf(POSTGRES_LOCKS, [], fc.oneof(plainName, pgQuoted)),
  },
  {
    dialect: 'mysql',
    quotedName: mysqlQuoted,
    string: mysqlString,
    comment: fc.oneof(
      lineComment,
      blockComment,
      text.map((value) => `# ${value.replaceAll('\n', ' ')}\n`),
    ),
    locking: lockingOf(['update', 'share'], ['LOCK IN SHARE MODE', 'lock in share mode'], plainName),
  },
  {
    dialect: 'sqlite',
    quotedName: ansiQuoted,
    string: standardString,
    comment: fc.oneof(lineComment, blockComment),
    locking: undefined,
  },
  {
    dialect: 'other',
    quotedName: ansiQuoted,
    string: standardString,
    comment: fc.oneof(lineComment, blockComment),
    locking: lockingOf(['update'], [], plainName),
  },
  {
    // What every dialect analyzeSql tries reads alike: no backslash (an escape in MySQL only), no E'…'.
    dialect: 'any',
    quotedName: fc.oneof(pgQuoted, mysqlQuoted, text.map(quoted('[', ']'))).map(withoutBackslash),
    string: fc.oneof(standardString.map(withoutBackslash), dollarString),
    comment: fc.oneof(lineComment, blockComment),
    locking: lockingOf(POSTGRES_LOCKS, ['LOCK IN SHARE MODE'], plainName),
  },
]

function effectOf(style: Style, sql: string): unknown {
  if (style.dialect === 'any') return analyzeSql(sql).kind
  return parseSql(sql, DIALECT_RULES[style.dialect]).map((statement) => statement.kind)
}

describe.each(STYLES)('reads with write words, $dialect', (style) => {
  const { read, write } = grammar(style)
  const [readKind, writeKind] = style.dialect === 'any' ? ['read', 'all'] : [['select'], ['unknown']]

  test(`${RUNS} reads stay reads (seed ${SEED})`, () => {
    fc.assert(
      fc.property(read, (sql) => {
        expect(effectOf(style, sql), sql).toStrictEqual(readKind)
      }),
      { seed: SEED, numRuns: RUNS },
    )
  })

  test(`${RUNS} reads with a data-modifying statement are writes (seed ${SEED})`, () => {
    fc.assert(
      fc.property(write, (sql) => {
        expect(effectOf(style, sql), sql).toStrictEqual(writeKind)
      }),
      { seed: SEED, numRuns: RUNS },
    )
  })
})

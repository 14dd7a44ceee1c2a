// Adds up vitest JSON reports of the CI runs into the one closing line CI
// reads: `N passed, N failed, N skipped`. Exits 1 when anything failed.
//
//   node scripts/ci-summary.mjs <label>=<report.json> [<label>=<report.json> ...]
//
// A run without a report (vitest died before writing it) counts as one failure,
// and so does a test file that failed to load (its tests never ran, so they
// appear in no other count) and a run failed by errors outside any test.
import { existsSync, readFileSync } from 'node:fs'

const totals = { passed: 0, failed: 0, skipped: 0 }

for (const argument of process.argv.slice(2)) {
  const separator = argument.indexOf('=')
  const label = separator === -1 ? argument : argument.slice(0, separator)
  const reportPath = separator === -1 ? argument : argument.slice(separator + 1)
  const counts = countsOf(reportPath)
  if (!counts) {
    console.log(`ci: ${label}: no report at ${reportPath}; counted as 1 failure`)
    totals.failed += 1
    continue
  }
  console.log(
    `ci: ${label}: passed=${counts.passed} failed=${counts.failed} skipped=${counts.skipped}` +
      (counts.brokenFiles > 0 ? ` (including ${counts.brokenFiles} test file(s) that failed outside any test)` : '') +
      (counts.runError > 0 ? ' (including 1 for errors outside any test file)' : ''),
  )
  totals.passed += counts.passed
  totals.failed += counts.failed
  totals.skipped += counts.skipped
}

console.log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`)
process.exitCode = totals.failed > 0 ? 1 : 0

function countsOf(reportPath) {
  if (!existsSync(reportPath)) return undefined
  let report
  try {
    report = JSON.parse(readFileSync(reportPath, 'utf8'))
  } catch {
    return undefined
  }
  // A file whose import, hooks or teardown failed, with no failed test to show for it.
  const brokenFiles = (report.testResults ?? []).filter(
    (file) =>
      file.status === 'failed' && !(file.assertionResults ?? []).some((assertion) => assertion.status === 'failed'),
  ).length
  const failedTests = (report.numFailedTests ?? 0) + brokenFiles
  // vitest also fails a run for errors outside every file, such as an unhandled rejection.
  const runError = report.success === false && failedTests === 0 ? 1 : 0
  return {
    passed: report.numPassedTests ?? 0,
    failed: failedTests + runError,
    skipped: (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0),
    brokenFiles,
    runError,
  }
}

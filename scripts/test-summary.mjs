// Prints vitest's JSON report as the one closing line CI reads: "N passed, N failed[, N skipped]".
import { readFileSync } from 'node:fs'

const path = process.argv[2] ?? 'test-results/vitest.json'
let report
try {
  report = JSON.parse(readFileSync(path, 'utf8'))
} catch (err) {
  console.log(`no test report at ${path}: ${err.message}`)
  console.log('0 passed, 1 failed')
  process.exit(0)
}
const passed = report.numPassedTests ?? 0
// A test file that fails to load counts as a failure even though it ran no test.
const failedSuites = (report.testResults ?? []).filter((f) => f.status === 'failed' && (f.assertionResults ?? []).length === 0).length
const failed = (report.numFailedTests ?? 0) + failedSuites
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0)
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`)

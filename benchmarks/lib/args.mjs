// Command-line options of the benchmarks: `arg('--reps', '5')` is the word after `--reps`, or the default.
const argv = process.argv.slice(2)

/**
 * @param {string} name the option, e.g. '--reps'
 * @param {string} def its value when it is not given
 * @returns {string | undefined}
 */
export const arg = (name, def) => {
  const i = argv.indexOf(name)
  return i < 0 ? def : argv[i + 1]
}

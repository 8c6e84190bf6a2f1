'use strict';
/**
 * The measuring half of the components' scripts (bench/connector.js, bench/callbacks.js): their
 * arguments `[total] [rounds] [--json]`, a warm-up round, then `rounds` rounds, each timed by this
 * process's CPU (user + system) per unit of work and by wall clock. Prints a line per round and the
 * median, or with --json one JSON line `{ total, rounds, usPerUnit, perRound, ratePerS }` (what
 * bench/run.js reads).
 */
function args(defaults) {
  const rest = process.argv.slice(2).filter((a) => a !== '--json');
  return { total: Number(rest[0] || defaults.total), rounds: Number(rest[1] || defaults.rounds), json: process.argv.includes('--json') };
}

/** `round(label)` does `total` units of work and resolves when they are done; `label` (digits) tells the rounds apart. */
async function measureRounds({ total, rounds, json }, unit, what, round) {
  await round(String(rounds)); // warm-up: a label no measured round uses (destinations stay digits)
  const perRound = [];
  const ratePerS = [];
  for (let r = 0; r < rounds; r++) {
    const cpu = process.cpuUsage();
    const t = process.hrtime.bigint();
    await round(String(r));
    const used = process.cpuUsage(cpu);
    const wall = Number(process.hrtime.bigint() - t) / 1e9;
    perRound.push((used.user + used.system) / total);
    ratePerS.push(total / wall);
    if (!json) console.log(`round ${r + 1}: ${total} ${unit}s in ${wall.toFixed(2)} s (${Math.round(total / wall)}/s), ${perRound[r].toFixed(1)} µs CPU per ${unit}`);
  }
  const usPerUnit = [...perRound].sort((a, b) => a - b)[Math.floor(rounds / 2)];
  if (json) console.log(JSON.stringify({ total, rounds, usPerUnit, perRound, ratePerS }));
  else console.log(`${what} CPU per ${unit} (median of ${rounds}): ${usPerUnit.toFixed(1)} µs`);
}

/** Runs `main`, exiting 1 with the error when it fails. */
function run(main) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}

module.exports = { args, measureRounds, run };

// Runs one syncVersionedTree in its own process, so the EFS kill test can SIGKILL it at any
// moment. Prints `ready` once loaded (the kill clock starts there), `step NAME` after each step
// of the sync (so the test can also kill right after a chosen step), and `done` at the end.
// Arguments: mountRoot setName lockHash tarPath keep
import { syncVersionedTree } from '../../../functions/core/deliver/efs-tree.ts';

const [mountRoot, setName, lockHash, tarPath, keep] = process.argv.slice(2);
if (!mountRoot || !setName || !lockHash || !tarPath) {
  process.stderr.write('usage: sync-child.ts mountRoot setName lockHash tarPath [keep]\n');
  process.exit(2);
}
process.stdout.write('ready\n');
await syncVersionedTree({
  mountRoot,
  setName,
  lockHash,
  tarPath,
  keep: Number(keep ?? 3),
  onStep: (step) => process.stdout.write(`step ${step}\n`),
});
process.stdout.write('done\n');

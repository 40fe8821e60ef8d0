/**
 * Signals that come while the `ferry` command's modules load (most of a second on a busy host),
 * before any command has installed its own handlers. Node's default for SIGTERM, SIGINT and SIGHUP
 * is to die, so a `systemctl reload` or `stop` just after a start would end Ferry with nothing
 * logged. They are held from the first line instead, and each is handed to the command once it
 * listens for it: `ferry run` takes a held SIGTERM or SIGINT as a stop while starting and a held
 * SIGHUP as a reload once started; any other command gets the first held signal's default effect
 * when it is dispatched, as if it had arrived then.
 */

const HELD: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];
const caught: NodeJS.Signals[] = [];
const hold = (signal: NodeJS.Signals): void => {
  caught.push(signal);
};

/** Hold SIGTERM, SIGINT and SIGHUP from now on. */
export function holdSignals(): void {
  for (const signal of HELD) process.on(signal, hold);
}

/** Stop holding `signal` (its handler is installed): how many times it came while held. */
export function takeHeldSignal(signal: NodeJS.Signals): number {
  process.off(signal, hold);
  let n = 0;
  for (let i = caught.length - 1; i >= 0; i--) {
    if (caught[i] === signal) {
      caught.splice(i, 1);
      n++;
    }
  }
  return n;
}

/** For a command that handles none of them: stop holding, and deliver the first held signal now. */
export function releaseHeldSignals(): void {
  for (const signal of HELD) process.off(signal, hold);
  const first = caught.shift();
  caught.length = 0;
  if (first !== undefined) process.kill(process.pid, first);
}

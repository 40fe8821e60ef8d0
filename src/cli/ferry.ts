#!/usr/bin/env -S node --max-semi-space-size=8
/**
 * The `ferry` command. Signals are held from the first line (early-signals.ts), then the commands
 * load (command-line.ts): a stop or reload that comes while they load is not node's default death.
 */

import { holdSignals } from './early-signals.js';

holdSignals();
await import('./command-line.js');

#!/usr/bin/env node
// The `apiary` command: runs the compiled CLI (npm ci / npm run build make dist/).
import { main } from "../dist/src/cli/main.js";

process.exitCode = await main(process.argv.slice(2));

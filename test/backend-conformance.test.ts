// Every execution backend passes the same contract suite (test/backend-conformance.ts).
import { test } from "vitest";
import { backendConformance } from "./backend-conformance.ts";
import { functionSubject, namedSubjects, simulatedSubject } from "./backend-subjects.ts";

for (const [name, subject] of Object.entries(namedSubjects)) backendConformance(name, subject, test);
backendConformance("simulated", simulatedSubject, test);
backendConformance("a user's function backend", functionSubject, test);

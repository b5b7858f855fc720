/**
 * What a running hive lets its backend do to the swarm (`ExecutionBackend.attach`): the remote
 * backend's worker nodes bring agents as they join and take them away as they leave or die, and
 * they decide the task kinds on offer.
 *
 * @module
 */
import type { BackendAgent, BackendHost } from "../backends/types.ts";
import type { AgentOptions } from "./options.ts";

/** The hive's side of {@link BackendHost}. */
export interface SwarmControl {
  addAgent(spec: AgentOptions): void;
  removeAgent(agentId: string): Promise<void>;
  failAgent(agentId: string, reason: string): void;
  setKinds(kinds: readonly string[]): void;
  agentIds(): string[];
}

/** The host a backend is attached to: the hive's own methods, made safe to call at any time. */
export function backendHost(hive: SwarmControl): BackendHost {
  return {
    addAgent: (agent: BackendAgent) => hive.addAgent(agentOptions(agent)),
    removeAgent: (agentId) => {
      try {
        return hive.removeAgent(agentId).catch(() => {});
      } catch {
        return Promise.resolve(); // unknown agent, or the hive is stopping
      }
    },
    failAgent: (agentId, reason) => {
      try {
        hive.failAgent(agentId, reason);
      } catch {
        // Unknown agent, or the hive is stopping.
      }
    },
    setKinds: (kinds) => hive.setKinds(kinds),
    agentIds: () => hive.agentIds(),
  };
}

/** A backend's agent as `addAgent` takes it (undefined fields left out). */
function agentOptions(agent: BackendAgent): AgentOptions {
  const spec: AgentOptions = { id: agent.id };
  if (agent.capabilities !== undefined) spec.capabilities = agent.capabilities;
  if (agent.concurrency !== undefined) spec.concurrency = agent.concurrency;
  if (agent.restart !== undefined) spec.restart = agent.restart;
  return spec;
}

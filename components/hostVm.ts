// A VM the tier logs into: stable SSH keys, secret user-data, the VM and its cloud firewall (through the
// cloud adapter), and the remote commands that run over SSH with the pinned host key. Used by
// SelfManagedDatabase (role "database") and DatabaseProxy (role "proxy"); not a component of its own, it
// creates its children under the component it is given.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { renderCloudInit } from "./cloudInit";
import { CloudAdapter, NetworkHandle, VmHandle } from "./clouds/types";
import { DEPLOY_USER, HostSecretValues, RemoteStep, appDbTrigger, hostFileEntries, planCloudInit, remoteSteps, secretEntries, sha256, staticHostFiles, tarBase64 } from "./hostDelivery";
import { HostFile } from "./hostFiles";
import { ed25519KeyPairFromSeed } from "./sshKeys";
import { VmRole, vmInboundRules } from "./trustedSources";
import { DbTierConfig } from "./types";

/** What `npm run plan` and operators need to know about a VM (nothing secret). */
export interface HostSummary {
  readonly name: string;
  readonly role: VmRole;
  readonly publicIp: string;
  readonly privateIp: string;
  /** Pinned SSH host key line; `<ip> <this>` is the known_hosts entry. */
  readonly hostPublicKey: string;
  /** Remote command resource names, in the order they run. */
  readonly commands: readonly string[];
}

export interface HostVmArgs {
  readonly name: string;
  readonly role: VmRole;
  readonly size: string;
  readonly config: DbTierConfig;
  readonly adapter: CloudAdapter;
  readonly network: NetworkHandle;
  readonly parent: pulumi.Resource;
}

/**
 * How long the remote commands keep dialling a VM that is still booting. @pulumi/command retries a failed
 * dial up to `dialErrorLimit` times (default 10), each dial bounded by `perDialTimeout` (default 15 s), with
 * the Pulumi SDK's retry.Until pause between tries: 100 ms growing 1.5x per try, at most 5 s
 * (pulumi/pulumi sdk/go/common/util/retry; pulumi-command provider/pkg/provider/remote/connection.go).
 * A refused connection fails at once, so the budget on fast failures is the sum of the pauses.
 */
export const DIAL_RETRY = { firstDelaySeconds: 0.1, backoff: 1.5, maxDelaySeconds: 5 } as const;
export const DIAL_ERROR_LIMIT = 100;
export const PER_DIAL_TIMEOUT_SECONDS = 10;

/** Seconds spent dialling before giving up, when every dial fails after `secondsPerFailure` (0: refused). */
export function dialBudgetSeconds(dialErrorLimit: number, secondsPerFailure: number): number {
  let delay: number = DIAL_RETRY.firstDelaySeconds;
  let total = 0;
  for (let dial = 1; dial <= dialErrorLimit; dial++) {
    delay = Math.min(delay * DIAL_RETRY.backoff, DIAL_RETRY.maxDelaySeconds);
    total += secondsPerFailure + delay;
  }
  return total;
}

export class HostVm {
  readonly vm: VmHandle;
  readonly hostPublicKey: pulumi.Output<string>;
  readonly connection: command.types.input.remote.ConnectionArgs;
  private readonly args: HostVmArgs;

  constructor(args: HostVmArgs) {
    this.args = args;
    const { name, role, config, parent } = args;
    // Replacing a seed changes the host key, hence the user-data, hence the VM: protect them with the data.
    const seedOpts = { parent, protect: config.protect && role === "database" };
    const hostSeed = new random.RandomBytes(`${name}-host-key-seed`, { length: 32 }, seedOpts);
    const deployerSeed = new random.RandomBytes(`${name}-deployer-key-seed`, { length: 32 }, seedOpts);
    const hostKey = pulumi.secret(hostSeed.base64.apply((seed) => ed25519KeyPairFromSeed(seed, `${name} host key`)));
    const deployerKey = pulumi.secret(deployerSeed.base64.apply((seed) => ed25519KeyPairFromSeed(seed, `${name} deployer`)));
    // Public halves are not secret: unwrap them so they can appear in outputs and known_hosts.
    this.hostPublicKey = pulumi.unsecret(hostKey.apply((k) => k.publicKey));
    const deployerPublicKey = pulumi.unsecret(deployerKey.apply((k) => k.publicKey));

    // Secret: it carries the host private key (see cloudInit.ts for why that key, and only it, is there).
    const userData = pulumi.secret(
      pulumi.all([hostKey, deployerPublicKey]).apply(([host, deployerPublic]) =>
        renderCloudInit(planCloudInit(config, hostnameFor(config, role), {
          hostPrivateKey: host.privateKey,
          hostPublicKey: host.publicKey,
          deployerPublicKey: deployerPublic,
        })),
      ),
    );

    this.vm = args.adapter.vm({
      name,
      role,
      size: args.size,
      userData,
      inboundRules: vmInboundRules(config, role),
      network: args.network,
    }, config, { parent, protect: config.protect });

    // SSH reaches the VM only from the admin ranges: `pulumi up` must run from one of them.
    this.connection = {
      host: this.vm.publicIp,
      user: DEPLOY_USER,
      privateKey: pulumi.secret(deployerKey.apply((k) => k.privateKey)),
      hostKey: this.hostPublicKey,
      dialErrorLimit: DIAL_ERROR_LIMIT,
      perDialTimeout: PER_DIAL_TIMEOUT_SECONDS,
    };
  }

  /**
   * Creates the remote commands in order, each depending on the one before. `hostFiles` (the env file, a CA
   * bundle: what depends on addresses) join the static ones (toolkit, units, firewall); they must not be
   * derived from a secret (delivered as a plain input); `secretValues` always is a secret.
   */
  runSteps(hostFiles: pulumi.Output<HostFile[]>, secretValues: pulumi.Output<HostSecretValues>, dependsOn: pulumi.Resource[] = []): { commands: command.remote.Command[]; steps: RemoteStep[]; names: string[] } {
    const { name, role, config, parent } = this.args;
    const steps = remoteSteps(config, role);
    const commands: command.remote.Command[] = [];
    const hostFilesStdin = hostFiles.apply((files) => tarBase64(hostFileEntries([...staticHostFiles(config, role), ...files])));
    const triggers = {
      "host-files": [hostFilesStdin.apply(sha256)],
      "app-db": [appDbTrigger(config)],
      "own-input": undefined,
    };
    // The first command carries the secrets: it waits for the VM's cloud firewall (DigitalOcean attaches it
    // after the droplet exists; AWS rules are separate resources), so SSH is never open to everyone then.
    let previous: pulumi.Resource[] = [...dependsOn, ...this.vm.firewall];
    for (const step of steps) {
      const isSecret = step.stdin === "secrets";
      const stdin = step.stdin === "secrets"
        ? pulumi.secret(secretValues.apply((values) => tarBase64(secretEntries(values))))
        : step.stdin === "host-files" ? hostFilesStdin : undefined;
      const stepTriggers = triggers[step.rerunOn];
      const cmd = new command.remote.Command(`${name}-${step.step}`, {
        connection: this.connection,
        create: step.script,
        ...(stdin ? { stdin } : {}),
        ...(stepTriggers ? { triggers: stepTriggers } : {}),
        // Never feed one run's output into the next run's environment.
        addPreviousOutputInEnv: false,
        // The secret step prints only a file count; its stderr is kept for errors, its stdout not logged.
        logging: isSecret ? "stderr" : "stdoutAndStderr",
      }, {
        parent,
        dependsOn: previous,
        ...(isSecret ? { additionalSecretOutputs: ["stdin", "stdout", "stderr"] } : {}),
      });
      commands.push(cmd);
      previous = [cmd];
    }
    return { commands, steps, names: steps.map((step) => `${name}-${step.step}`) };
  }

  summary(commandNames: readonly string[]): pulumi.Output<HostSummary> {
    const { name, role } = this.args;
    return pulumi.all([this.vm.publicIp, this.vm.privateIp, this.hostPublicKey]).apply(([publicIp, privateIp, hostPublicKey]) => ({
      name, role, publicIp, privateIp, hostPublicKey, commands: [...commandNames],
    }));
  }
}

export function hostnameFor(config: DbTierConfig, role: VmRole): string {
  const app = config.appDb.application;
  const prefix = app === config.stack || app.endsWith(`-${config.stack}`) ? app : `${app}-${config.stack}`;
  return `${prefix}-${role === "database" ? "db" : "proxy"}`.toLowerCase().replace(/[^a-z0-9-]/g, "-").replace(/-+/g, "-").slice(0, 63).replace(/-+$/, "");
}

// What `npm run promote` needs from the outside world, as interfaces: the Pulumi Automation API, SSH to
// the hosts, the terminal. The real implementations are in automation.ts, ssh.ts and terminal.ts; the tests
// inject fakes, so every decision runs without the Pulumi CLI, a cloud or a host.

/** One config value as `pulumi config --json` reports it. */
export interface ConfigEntry {
  readonly value: string;
  readonly secret: boolean;
}
export type ConfigMap = Readonly<Record<string, ConfigEntry>>;

export interface OutputEntry {
  readonly value: unknown;
  readonly secret: boolean;
}
export type OutputMap = Readonly<Record<string, OutputEntry>>;

/** One resource step of a preview, from the engine's resourcePreEvent. */
export interface PreviewStep {
  readonly op: string;
  readonly urn: string;
  readonly type: string;
  /** True when the current state (or the program) marks the resource `protect`. */
  readonly protect: boolean;
  /** Properties that force a replacement (for replace steps). */
  readonly replaceKeys: readonly string[];
  /** Properties that change. */
  readonly diffKeys: readonly string[];
}

export interface PreviewResult {
  readonly steps: readonly PreviewStep[];
  /** Error diagnostics the engine reported. */
  readonly diagnostics: readonly string[];
  /** Set when the preview itself failed. */
  readonly error?: string;
}

export interface UpResult {
  readonly ok: boolean;
  readonly summary: string;
}

export interface StackPort {
  readonly name: string;
  getAllConfig(): Promise<ConfigMap>;
  /** `path`: the key addresses a field inside a structured value (`dbtier:appDb.source`). */
  setConfig(key: string, value: string, path: boolean): Promise<void>;
  removeConfig(key: string, path: boolean): Promise<void>;
  outputs(): Promise<OutputMap>;
  preview(options: { policyPacks: readonly string[] }): Promise<PreviewResult>;
  up(options: { message: string; policyPacks: readonly string[]; onOutput: (text: string) => void }): Promise<UpResult>;
}

export type CliCheck = { readonly ok: true; readonly version: string } | { readonly ok: false; readonly reason: string };

export interface AutomationPort {
  checkCli(): Promise<CliCheck>;
  selectStack(name: string): Promise<StackPort>;
}

/** A VM reached over SSH with its pinned host key. */
export interface SshTarget {
  readonly stack: string;
  readonly role: "database" | "proxy";
  readonly host: string;
  readonly user: string;
  /** `ssh-ed25519 AAAA...`: the only host key accepted. */
  readonly hostPublicKey: string;
  readonly label: string;
}

export interface RemoteResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RemotePort {
  /** Runs scripts/promote/remote.sh on the target with these arguments; `stdin` carries key material. */
  run(target: SshTarget, args: readonly string[], stdin?: string): Promise<RemoteResult>;
}

export interface TerminalPort {
  /** True when stdin and stdout are a terminal a person can answer on. */
  readonly interactive: boolean;
  confirm(question: string): Promise<boolean>;
  info(line: string): void;
  error(line: string): void;
}

export interface FilesPort {
  /** Reads the age identity file; throws with a readable message when it is missing or unreadable. */
  readIdentity(path: string): string;
  /** True when the policy pack directory exists next to the program. */
  hasPolicyPack(): boolean;
}

export interface Deps {
  readonly automation: AutomationPort;
  readonly remote: RemotePort;
  readonly terminal: TerminalPort;
  readonly files: FilesPort;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** @pulumi/pulumi version from package.json, for the install hint. */
  readonly sdkVersion: string;
}

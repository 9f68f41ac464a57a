// The stack's backup signing key: every manifest and verification record the stack's hosts write is signed
// with it (scripts/host/lib/dbtier/trust.py, `ssh-keygen -Y sign`). The private part goes only to the hosts that
// back up (the database VM, the proxy) as a 0600 secret file; the public part is pinned in the env file of
// every host that loads, and is a stack output so a promotion target can pin the source stack's key.
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { ed25519KeyPairFromSeed } from "./sshKeys";

export interface BackupSigningKeyArgs {
  /** The datastore prefix the key signs for (appDb.application); only in the key's comment. */
  readonly application: string;
  /** Losing the key makes every backup it signed unverifiable: protected like the passwords. */
  readonly protect: boolean;
}

export class BackupSigningKey extends pulumi.ComponentResource {
  /** `ssh-ed25519 AAAA... comment` (not a secret). */
  readonly publicKey: pulumi.Output<string>;
  /** OpenSSH private key (secret). */
  readonly privateKey: pulumi.Output<string>;

  constructor(name: string, args: BackupSigningKeyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dbtier:index:BackupSigningKey", name, {}, opts);
    const seed = new random.RandomBytes(`${name}-seed`, { length: 32 }, { parent: this, protect: args.protect });
    const pair = pulumi.secret(seed.base64.apply((s) => ed25519KeyPairFromSeed(s, `dbtier backup signing ${args.application}`)));
    this.publicKey = pulumi.unsecret(pair.apply((k) => k.publicKey));
    this.privateKey = pulumi.secret(pair.apply((k) => k.privateKey));
    this.registerOutputs({ publicKey: this.publicKey });
  }
}

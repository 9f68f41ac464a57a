// Shared fixtures for the unit tests.

const RECIPIENT = "age197uj3uc67ms8twv7q33934gtwa9l7vgfxk0ech2jjs2txngefppqcrc9st";

/** A valid raw config (as Pulumi hands it to the program); each test changes one thing. */
export function validRaw(overrides: Record<string, unknown> = {}): Record<string, string> {
  const base: Record<string, unknown> = {
    cloud: "digitalocean",
    region: "fra1",
    mode: "self-managed",
    engine: "mariadb",
    engineVersion: "11.4",
    webservers: [{ name: "web1", ip: "203.0.113.10" }, { name: "web2", ip: "203.0.113.11" }],
    adminCidrs: ["198.51.100.0/24"],
    database: { name: "shop", user: "shop_app" },
    backups: { datastore: { endpoint: "https://fra1.digitaloceanspaces.com", bucket: "acme-backups", region: "fra1" }, encryptionRecipient: RECIPIENT },
    ...overrides,
  };
  const raw: Record<string, string> = {};
  for (const [key, value] of Object.entries(base)) {
    if (value === undefined) continue;
    raw[`dbtier:${key}`] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return raw;
}


import * as fc from "fast-check";
import { NAME_RULES, boundedName, nameProblems, namePrefix, resourceName, stackNameProblems, stackRoles } from "../../components/names";
import { CLOUDS, Cloud } from "../../components/types";

const named = (cloud: Cloud, application: string, stack = "prod") => ({ cloud, stack, appDb: { application } as never });

describe("10: provider names never collide and follow each provider's rule", () => {
  test("two replicas and the primary of a long application stay distinct where plain truncation merged them", () => {
    const c = named("linode", "shop-catalogue-and-checkout-prod");
    const names = ["db", "db-replica-0", "db-replica-1"].map((role) => resourceName(c, role));
    // The old 32-character cut gave all three the same first 32 characters.
    expect(new Set(names.map((n) => `shop-catalogue-and-checkout-prod-${n}`.slice(0, 32))).size).toBe(1);
    expect(new Set(names).size).toBe(3);
    for (const n of names) expect(nameProblems("linode", n)).toEqual([]);
    expect(names[1]).toMatch(/-[0-9a-f]{6}-db-replica-0$/);
  });

  test("short names are kept as they are", () => {
    expect(resourceName(named("aws", "shop-prod"), "db")).toBe("shop-prod-db");
    expect(namePrefix("shop", "prod")).toBe("shop-prod");
    expect(namePrefix("shop-prod", "prod")).toBe("shop-prod");
  });

  test.each([
    ["1shop-db", /must start with a letter/],
    ["shop--db", /two hyphens in a row/],
    ["shop-db-", /must not end with a hyphen/],
    ["Shop_db", /must start with a letter.*lowercase letters, digits and hyphens/],
    ["a".repeat(64), /64 characters; at most 63/],
  ])("RDS refuses %p", (name, why) => {
    expect(nameProblems("aws", name).join(", ")).toMatch(why);
  });

  test("an application starting with a digit is reported once, with the provider's rule", () => {
    const lines = stackNameProblems({ ...named("aws", "1shop"), readReplicas: 2 });
    expect(lines).toEqual([expect.stringMatching(/^gives the aws name "1shop-prod-vpc" \(vpc\), which must start with a letter \(RDS identifiers/)]);
    expect(stackNameProblems({ ...named("aws", "shop"), readReplicas: 5 })).toEqual([]);
  });

  test("property: every planned name is valid for its cloud, and distinct inputs give distinct names", () => {
    const label = fc.stringMatching(/^[a-z][a-z0-9]{0,12}(-[a-z0-9]{1,12}){0,5}$/);
    fc.assert(fc.property(fc.constantFrom(...CLOUDS), label, label, fc.nat(5), (cloud, application, stack, replicas) => {
      const roles = stackRoles(replicas);
      const names = roles.map((role) => boundedName(cloud, namePrefix(application, stack), role));
      return names.every((n) => nameProblems(cloud, n).length === 0 && n.length <= NAME_RULES[cloud].maxLength)
        && new Set(names).size === roles.length
        && stackNameProblems({ ...named(cloud, application, stack), readReplicas: replicas }).every((l) => !l.includes("same"));
    }), { numRuns: 300 });
  });
});

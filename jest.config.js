// Three projects so `npm run test:unit` stays fast while `npm test` runs everything.
const tsJest = { "^.+\\.ts$": ["ts-jest", { diagnostics: false }] };
module.exports = {
  projects: [
    { displayName: "unit", testEnvironment: "node", transform: tsJest, testMatch: ["<rootDir>/tests/unit/**/*.test.ts", "<rootDir>/tests/delivery/**/*.test.ts"] },
    { displayName: "integration", testEnvironment: "node", transform: tsJest, testMatch: ["<rootDir>/tests/integration/**/*.test.ts"], slowTestThreshold: 120 },
    { displayName: "lab", testEnvironment: "node", transform: tsJest, testMatch: ["<rootDir>/tests/lab/**/*.test.ts"] },
  ],
};

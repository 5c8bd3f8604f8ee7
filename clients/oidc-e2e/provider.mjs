// A real OpenID provider for the single sign-on test (crates/cli/tests/cli/oidc.rs): the npm
// package oidc-provider with one confidential client that must use PKCE (S256), its registered
// redirect URI and client_secret_basic. Its development login page signs in whoever is named;
// each person's groups are below. Prints "listening" when ready.
// Usage: node provider.mjs PORT REDIRECT_URI CLIENT_SECRET
import Provider from "oidc-provider";

const [port, redirectUri, clientSecret] = process.argv.slice(2);
const people = {
  dana: { preferred_username: "dana", groups: ["engineering"] },
  olaf: { preferred_username: "olaf", groups: ["cafeteria"] },
};

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: "switchyard",
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    response_types: ["code"],
    grant_types: ["authorization_code"],
    token_endpoint_auth_method: "client_secret_basic",
  }],
  pkce: { required: () => true },
  claims: { openid: ["sub"], profile: ["preferred_username", "groups"] },
  // Put the profile claims in the ID token itself (the relying party reads only the ID token).
  conformIdTokenClaims: false,
  findAccount: async (_ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, ...(people[id] || { preferred_username: id, groups: [] }) }),
  }),
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ["switchyard-oidc-e2e"] },
});
provider.on("server_error", (_ctx, error) => console.error("server_error", error));
provider.on("grant.error", (_ctx, error) => console.error("grant.error", error.message, error.error_description || ""));
provider.listen(Number(port), "127.0.0.1", () => console.log("listening"));

// A real OpenID Connect provider for Signalbox's browser sign-in tests: panva/oidc-provider with
// its development login form (any password is accepted; the login name picks the account).
//   PORT=... REDIRECT_URI=... POST_LOGOUT_REDIRECT_URI=... node server.mjs
import Provider from 'oidc-provider';

const port = Number(process.env.PORT ?? 4000);
const issuer = `http://127.0.0.1:${port}`;

// Accounts the tests sign in as; groups match the embedded Signalbox configuration.
const accounts = {
  alice: { name: 'Alice Example', email: 'alice@example.com', groups: ['team-a'] },
  erin: { name: 'Erin Outsider', email: 'erin@example.com', groups: ['marketing'] },
};

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'signalbox',
      client_secret: 'signalbox-test-secret',
      redirect_uris: [process.env.REDIRECT_URI],
      post_logout_redirect_uris: [process.env.POST_LOGOUT_REDIRECT_URI],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  claims: {
    openid: ['sub'],
    profile: ['name', 'groups'],
    email: ['email'],
  },
  // Put the scope's claims in the ID token, as Keycloak does with its default mappers.
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  pkce: { required: () => true },
  cookies: { keys: ['signalbox-test-cookie-key'] },
  async findAccount(ctx, id) {
    const account = accounts[id] ?? { name: id, email: `${id}@example.com`, groups: [] };
    return {
      accountId: id,
      async claims() {
        return { sub: id, ...account };
      },
    };
  },
});
provider.proxy = false;
provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening at ${issuer}`);
});

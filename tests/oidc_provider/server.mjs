// A hospital's OpenID Connect provider for the sign-in tests: oidc-provider (certified,
// by panva) on 127.0.0.1, with one confidential client and the test accounts below. Its
// development interactions ask for a login (any password) and then for consent.
//
// Environment: OIDC_TEST_PORT, OIDC_TEST_CLIENT_ID, OIDC_TEST_CLIENT_SECRET and
// OIDC_TEST_REDIRECT_URIS (separated by commas). Prints "listening <issuer>" once ready.
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_TEST_PORT);
const issuer = `http://127.0.0.1:${port}`;

// The login typed on the provider's page is the account's id.
const ACCOUNTS = {
  invited: { email: 'invited.clinician@stmarys.example', email_verified: true, groups: ['clinicians'],
             given_name: 'Ines', family_name: 'Invited' },
  clinician: { email: 'new.clinician@stmarys.example', email_verified: true, groups: ['clinicians', 'staff'],
               given_name: 'Nadia', family_name: 'New' },
  porter: { email: 'porter@stmarys.example', email_verified: true, groups: ['estates'],
            given_name: 'Pat', family_name: 'Porter' },
  unverified: { email: 'invited.clinician@stmarys.example', email_verified: false, groups: ['clinicians'],
                given_name: 'Una', family_name: 'Unverified' },
  lead: { email: 'research.lead@stmarys.example', email_verified: true,
          groups: ['clinicians', 'researchers', 'portal-admins'], given_name: 'Lee', family_name: 'Lead' },
  noemail: { groups: ['clinicians'], given_name: 'Nemo', family_name: 'Noemail' },
};

const configuration = {
  clients: [{
    client_id: process.env.OIDC_TEST_CLIENT_ID,
    client_secret: process.env.OIDC_TEST_CLIENT_SECRET,
    redirect_uris: process.env.OIDC_TEST_REDIRECT_URIS.split(','),
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
    groups: ['groups'],
  },
  async findAccount(ctx, id) {
    const account = ACCOUNTS[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: `${account.given_name} ${account.family_name}`, ...account };
      },
    };
  },
  cookies: { keys: ['evalportal-tests-only'] },
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
};

const provider = new Provider(issuer, configuration);
provider.listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});

"""Development identity issuer: OIDC discovery, JWKS, client credentials and dev tokens (never production)."""

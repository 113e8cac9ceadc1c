"""Outside dev mode a service refuses to start with a missing or `dev-secret-…` client secret."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from mnr_shared.auth import AuthSettings, PlaceholderSecretError, refuse_placeholder_secrets


@pytest.mark.parametrize("secret", ["dev-secret-roster-service", "", None, SecretStr("dev-secret-x")])
def test_placeholder_or_missing_secret_is_refused_naming_the_variable(secret: str | SecretStr | None) -> None:
    with pytest.raises(PlaceholderSecretError, match="ROSTER_CLIENT_SECRET") as refused:
        refuse_placeholder_secrets(dev_mode=False, ROSTER_CLIENT_SECRET=secret, OTHER_SECRET="fine-and-long")

    assert "OTHER_SECRET" not in str(refused.value)
    assert "roster-service" not in str(refused.value)


def test_every_bad_secret_is_named_at_once() -> None:
    with pytest.raises(PlaceholderSecretError, match="A_SECRET, B_SECRET"):
        refuse_placeholder_secrets(dev_mode=False, B_SECRET="dev-secret-b", A_SECRET=None)


@pytest.mark.parametrize("secret", ["a-real-secret-0f3c", SecretStr("a-real-secret-0f3c")])
def test_real_secret_passes(secret: str | SecretStr) -> None:
    refuse_placeholder_secrets(dev_mode=False, ROSTER_CLIENT_SECRET=secret)


def test_dev_mode_allows_the_placeholders() -> None:
    refuse_placeholder_secrets(dev_mode=True, ROSTER_CLIENT_SECRET="dev-secret-roster-service")


def test_dev_mode_comes_from_auth_dev_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTH_DEV_MODE", raising=False)
    assert AuthSettings().dev_mode is False
    monkeypatch.setenv("AUTH_DEV_MODE", "1")
    assert AuthSettings().dev_mode is True

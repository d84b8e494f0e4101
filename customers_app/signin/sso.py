"""Single sign-on (OpenID Connect through allauth): who an SSO login becomes, and the role it brings.

- New people are signed up on their first login, with no form: the username is their
  ``preferred_username`` (else the start of their email), made unique, so an SSO login never takes
  over a local (break-glass) account of the same name; accounts are linked by the provider's ``sub``.
- With ``OIDC_ROLE_MAP`` set, the role is read from the ``OIDC_ROLE_CLAIM`` claim at every login and
  replaces the one held: leaving a group at the provider removes the role at the next login. Several
  mapped groups give the most powerful of their roles (admin > marketer > support), the same rule
  ``roles.role_key_of`` reads roles with. Every change is audited.
- Without a map the provider says nothing about roles: admins give them in the dashboard.
- The ID token must carry the provider's signature. allauth checks its issuer, audience, expiry and
  replay, but skips the signature when the token comes straight from the token endpoint (which
  OpenID Connect allows over TLS); ``verify_id_token_signature`` adds that check against the
  provider's JWKS, so a token signed with another key or altered after signing is refused.
"""

from __future__ import annotations

import functools
import logging
import secrets

import jwt
from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.helpers import render_authentication_error
from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from django.conf import settings
from django.db import transaction

from customers_app.audit import audit_record
from customers_app.models import AuditEntry
from customers_app.roles import ROLE_GROUPS, role_key_of, set_role

logger = logging.getLogger("customers_app.signin")

# The audit action of a role set by single sign-on: the same as a role changed on the Team page.
ROLE_CHANGE_ACTION = AuditEntry.Action.ROLE_CHANGE


def sso_claims(sociallogin) -> dict:
    """The claims of this login: userinfo when the dashboard fetched it, else the ID token's."""
    extra = sociallogin.account.extra_data or {}
    return extra.get("userinfo") or extra.get("id_token") or extra


def claimed_groups(claims: dict) -> set[str]:
    """The group names in ``OIDC_ROLE_CLAIM``: a list, or one string (space or comma separated)."""
    value = claims.get(settings.OIDC_ROLE_CLAIM)
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list | tuple):
        return set()
    return {str(item) for item in value}


def role_from_groups(groups: set[str]) -> str:
    """The most powerful role ``OIDC_ROLE_MAP`` gives these groups, or "" for none."""
    granted = {role for role, role_groups in settings.OIDC_ROLE_MAP.items() if groups & set(role_groups)}
    return next((role for role in reversed(ROLE_GROUPS) if role in granted), "")


def sync_role_from_provider(user, sociallogin) -> None:
    """Sets the role the provider's groups give (only with ``OIDC_ROLE_MAP``), auditing a change."""
    if not settings.OIDC_ROLE_MAP:
        return
    before = role_key_of(user)
    after = role_from_groups(claimed_groups(sso_claims(sociallogin)))
    if before == after:
        return
    with transaction.atomic():
        set_role(user, after)
        audit_record(
            actor=user,
            action=ROLE_CHANGE_ACTION,
            target_id=f"user:{user.pk}",
            target_label=user.get_username(),
            changes={"role": {"before": before or None, "after": after or None}},
            detail=f"Set at single sign-on from the {settings.OIDC_ROLE_CLAIM!r} claim",
        )
    logger.info("Single sign-on set the role of user %s: %s -> %s", user.pk, before or "none", after or "none")


# Asymmetric algorithms only: an HS256 token would be "signed" with a secret the client also holds.
SIGNATURE_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]


def _discovery(session, server_url: str) -> dict:
    url = server_url if "/.well-known/" in server_url else server_url.rstrip("/") + "/.well-known/openid-configuration"
    response = session.get(url)
    response.raise_for_status()
    return response.json()


def verify_id_token_signature(response, *args, plain_session, **kwargs):
    """A response hook on allauth's HTTP session: an ID token answered by a configured provider's token
    endpoint must verify against that provider's published keys; raises ``OAuth2Error`` (which allauth
    shows as a failed third-party login) when it does not."""
    if response.request.method != "POST" or not response.ok or "id_token" not in response.text:
        return response
    id_token = response.json().get("id_token")
    for app in settings.SOCIALACCOUNT_PROVIDERS.get("openid_connect", {}).get("APPS", []):
        config = _discovery(plain_session, app["settings"]["server_url"])
        if config.get("token_endpoint") != response.url:
            continue
        try:
            alg, key = jwtkit.fetch_key(id_token, config["jwks_uri"], jwtkit.lookup_kid_jwk)
            if alg not in SIGNATURE_ALGORITHMS:
                raise OAuth2Error(f"ID token algorithm {alg!r} is not accepted")
            jwt.decode(id_token, key=key, algorithms=[alg], audience=app["client_id"], issuer=config["issuer"])
        except (jwt.PyJWTError, KeyError, ValueError) as exc:
            raise OAuth2Error("The ID token does not verify against the provider's keys") from exc
    return response


class NonceOpenIDConnectProvider(OpenIDConnectProvider):
    """allauth's OpenID Connect provider, sending a fresh ``nonce`` with each authorization request.

    allauth's generic OIDC provider sends none; the nonce is kept in allauth's own login state (the
    ``oidc_nonce`` keyword ends up there) and ``SocialAccountAdapter.pre_social_login`` checks that the
    ID token carries it back, so a token minted for another login cannot be slipped into this one.
    """

    def redirect(self, request, process, next_url=None, data=None, **kwargs):
        nonce = secrets.token_urlsafe(24)
        auth_params = kwargs.pop("auth_params", None) or self.get_auth_params()
        kwargs["auth_params"] = {**auth_params, "nonce": nonce}
        return super().redirect(request, process, next_url, data, oidc_nonce=nonce, **kwargs)


def nonce_matches(sociallogin) -> bool:
    expected = (sociallogin.state or {}).get("oidc_nonce")
    id_token = (sociallogin.account.extra_data or {}).get("id_token") or {}
    return bool(expected) and secrets.compare_digest(str(id_token.get("nonce", "")), expected)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """allauth's hooks for SSO logins: open sign-up without a form, unique usernames, roles."""

    def get_requests_session(self):
        session = super().get_requests_session()
        plain_session = super().get_requests_session()
        session.hooks["response"].append(functools.partial(verify_id_token_signature, plain_session=plain_session))
        return session

    def is_open_for_signup(self, request, sociallogin) -> bool:
        # Password accounts come from admins only (AccountAdapter); whoever the company's provider
        # vouches for may have an account, which holds no role until the map or an admin gives one.
        return True

    def is_auto_signup_allowed(self, request, sociallogin) -> bool:
        return True  # the sign-up form is not offered (accounts/3rdparty/signup/ is a 404)

    def populate_user(self, request, sociallogin, data):
        user = super().populate_user(request, sociallogin, data)
        email = data.get("email") or ""
        wanted = [data.get("username"), email.partition("@")[0], "user"]
        user.username = get_account_adapter(request).generate_unique_username(wanted)
        return user

    def save_user(self, request, sociallogin, form=None):
        user = super().save_user(request, sociallogin, form)
        sync_role_from_provider(user, sociallogin)
        return user

    def get_provider(self, request, provider, client_id=None):
        instance = super().get_provider(request, provider, client_id)
        if type(instance) is OpenIDConnectProvider:
            return NonceOpenIDConnectProvider(request, app=instance.app)
        return instance

    def pre_social_login(self, request, sociallogin) -> None:
        super().pre_social_login(request, sociallogin)
        if isinstance(sociallogin.provider, OpenIDConnectProvider) and not nonce_matches(sociallogin):
            logger.warning("SSO login refused: the ID token does not carry this login's nonce")
            raise ImmediateHttpResponse(
                render_authentication_error(request, sociallogin.provider, exception=OAuth2Error("nonce mismatch"))
            )
        if sociallogin.is_existing:
            sync_role_from_provider(sociallogin.user, sociallogin)

"""The provider's claims (groups included, read at each login) and its tamper switch for ID tokens."""

from __future__ import annotations

import base64
import json
import time

from django.conf import settings
from jwcrypto import jwk, jws
from oauth2_provider.oauth2_validators import OAuth2Validator

# What the tamper switch (a file in the data dir, so every worker sees it) can do to ID tokens.
TAMPER_MODES = {
    "": "ID tokens as they should be",
    "foreign-key": "signed with a key that is not in the JWKS (same kid)",
    "altered-payload": "signed properly, then the payload changed (other sub, email and groups)",
    "wrong-audience": "signed properly for another client id",
    "wrong-issuer": "signed properly with another issuer",
    "expired": "signed properly, expired an hour ago",
    "wrong-nonce": "signed properly, with a nonce the client did not send (a replayed or injected token)",
}


def tamper_mode() -> str:
    try:
        return settings.TAMPER_PATH.read_text().strip()
    except FileNotFoundError:
        return ""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class ClaimsValidator(OAuth2Validator):
    """Standard claims plus ``groups``, in both the ID token and userinfo."""

    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "groups": "openid"}

    def get_additional_claims(self, request):
        user = request.user
        return {
            "email": user.email,
            "email_verified": bool(user.email),
            "preferred_username": user.username,
            "name": user.get_full_name() or user.username,
            # Read at every token, so a change of groups shows at the next login.
            "groups": sorted(user.groups.values_list("name", flat=True)),
        }

    def get_id_token_dictionary(self, token, token_handler, request):
        claims, expiration_time = super().get_id_token_dictionary(token, token_handler, request)
        mode = tamper_mode()
        if mode == "wrong-audience":
            claims["aud"] = "someone-else"
        elif mode == "wrong-issuer":
            claims["iss"] = "http://127.0.0.1:1/evil"
        elif mode == "expired":
            claims["exp"] = int(time.time()) - 3600
        elif mode == "wrong-nonce":
            claims["nonce"] = "not-the-clients-nonce"
        return claims, expiration_time

    def finalize_id_token(self, id_token, token, token_handler, request):
        mode = tamper_mode()
        signed = super().finalize_id_token(id_token, token, token_handler, request)
        if mode == "foreign-key":
            return self._resign_with_foreign_key(signed)
        if mode == "altered-payload":
            header, payload, signature = signed.split(".")
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            claims.update(sub="forged", email="forged@example.com", preferred_username="forged",
                          groups=["dashboard-admins"])  # fmt: skip
            return ".".join([header, _b64(json.dumps(claims).encode()), signature])
        return signed

    @staticmethod
    def _resign_with_foreign_key(signed: str) -> str:
        header_b64, payload_b64, _ = signed.split(".")
        foreign = jwk.JWK.generate(kty="RSA", size=2048)
        token = jws.JWS(base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4)))
        header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
        token.add_signature(foreign, alg="RS256", protected=json.dumps(header))
        return token.serialize(compact=True)

"""Bearer-token authentication for the write API."""

from __future__ import annotations

from ninja.security import HttpBearer

from posts.domain import services


class TokenAuth(HttpBearer):
    """``Authorization: Bearer <token>``; the request's user becomes the token's."""

    def authenticate(self, request, token: str):
        user = services.token_user(token)
        if user is not None:
            request.user = user
        return user


token_auth = TokenAuth()

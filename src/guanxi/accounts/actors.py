"""Who did something, as services take it: a staff user, a request's anonymous user, or nobody (a job, a webhook)."""

from __future__ import annotations

from typing import TypeAlias

from django.contrib.auth.models import AnonymousUser

from guanxi.accounts.models import User

Actor: TypeAlias = User | AnonymousUser | None


def signed_in(actor: Actor) -> User | None:
    """The signed-in user behind ``actor``; None for the system and for an anonymous request."""
    return actor if isinstance(actor, User) and actor.is_authenticated else None


def actor_id(actor: Actor) -> int | None:
    """The id recorded as the actor of an event or an audit row: the signed-in user's, else None."""
    user = signed_in(actor)
    return user.pk if user is not None else None

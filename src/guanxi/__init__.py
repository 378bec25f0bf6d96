"""Guanxi (关系): customer relationships for merchants and service companies."""

from guanxi.celery_app import app as celery_app

__all__ = ["celery_app"]

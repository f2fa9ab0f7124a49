"""Engines: ``tavus`` (the hosted API over HTTP) and ``sandbox`` (local, in-process)."""

from __future__ import annotations

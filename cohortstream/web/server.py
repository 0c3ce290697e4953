"""Faust's aiohttp web server without its placeholder index, so ``/`` is ours.

Faust mounts a ``{"status": "OK"}`` view at ``/`` (or its debug statistics);
the status page (``cohortstream.web.status``) takes that path instead.
Registered as the ``cohortstream://`` web driver.
"""

from __future__ import annotations

from typing import ClassVar

from faust.web.drivers import aiohttp as faust_aiohttp


class Web(faust_aiohttp.Web):
    production_blueprints: ClassVar[list] = []  # type: ignore[assignment,type-arg]

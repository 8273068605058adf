"""Interfaces: the ``forecast`` command line and the HTTP service. Nothing imports this package."""

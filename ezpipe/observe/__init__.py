"""Observers of the engine's events: console lines, progress, logging, summary, pictures.

Each subscribes to :class:`ezpipe.events.Observer`; none imports the engine.
"""

"""The engine: scheduling policy, the transport, the step sandbox, the coordinator, the loop.

It reports through :class:`ezpipe.events.Observer` and imports no observer.
"""

"""Live control of a running conversation: the server in the room, its events, interactions in.

    hub = LiveHub(open_bus(settings.server.store, clock), engine, store)   # one per app: ctx.live
    await hub.send(record, {"event_type": "conversation.respond", "properties": {"text": "Hi"}})
    async for event in hub.follow(record, after=0):   # Event(seq, type, conversation_id, at, data); None: a tick
        ...

``hub`` holds the seats (which the engine gives: ``engines/rooms.py``); a bus (the interface in ``base``,
in process in ``bus``, across instances in ``redis_bus``) keeps the event logs, leases and commands;
``events`` is what a room event becomes and ``interactions`` the messages a back end may send in.
"""

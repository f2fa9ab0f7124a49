"""Live control of a running conversation: the server in the room, its events, interactions in.

    hub = LiveHub(settings, store, engine)            # one per app (ctx.extras["live"])
    await hub.send(record, {"event_type": "conversation.respond", "properties": {"text": "Hi"}})
    async for event in hub.follow(record, after=0):   # {seq, type, conversation_id, at, data}
        ...
"""

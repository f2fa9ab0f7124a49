"""The operator's console: who may sign in (``auth``), and what it shows (``reports``, ``ledger``)."""

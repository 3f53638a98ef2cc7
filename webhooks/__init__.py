"""The webhooks dispatcher (`dripfleet webhooks`): sends the outbox to the users' endpoints.

Owns delivering `webhook_deliveries`: claiming due rows (several dispatchers may run at once),
signing them per Standard Webhooks, sending them with bounded concurrency, logging every attempt,
retrying for 24 h, disabling endpoints that answer 410 or keep failing. Must never decide which
events exist (the statements that change state write the outbox), never send anything that is
not a claimed delivery, and never reach a private address unless ALLOW_PRIVATE_URLS.
"""
